# TAP helpers for the shell tests (sourced): ok STATUS NAME, is GOT WANT NAME, done_testing.
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=$((fail+1)); fi; }
is() { [ "$1" = "$2" ]; ok $? "$3 (got '$1', want '$2')"; }
# prints the plan; exit status 1 when a test failed
done_testing() { echo "1..$n"; [ $fail = 0 ]; }
