#!/usr/bin/env bash
# framedump.t: framedump(1) on a small stream written byte by byte with printf (the layout of
# llamo-frame(5) spelled out), and its exit codes and one-line errors on bad input. TAP.
cd "$(dirname "$0")/.." || exit 1
fd=bin/framedump
[ -x "$fd" ] || { echo "1..0 # SKIP $fd not built"; exit 0; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { # check NAME CONDITION-RESULT(0 pass) DETAIL
	n=$((n + 1))
	if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
	[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
}

# The stream: a header with a tag; tokens [7, -1] (stream 3, pos 0, UNCOND); one latent row
# [1.5, -2] (pos 5); text "hi"; an eom mark (stream 3); the end-of-input eos (stream ALL).
# Frame header: "LMF1", type, elem, flags(2), rows, cols, stream, pos, mark, reserved (u32 LE).
{
	printf 'LLAMO1 kind=mixed width=0 elem=f32 rate=7.5 X-seed=42\n'
	printf 'LMF1\001\001\001\000\001\000\000\000\002\000\000\000\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
	printf '\007\000\000\000\377\377\377\377'
	printf 'LMF1\003\002\000\000\001\000\000\000\002\000\000\000\000\000\000\000\005\000\000\000\000\000\000\000\000\000\000\000'
	printf '\000\000\300\077\000\000\000\300'
	printf 'LMF1\005\003\000\000\001\000\000\000\002\000\000\000\000\000\000\000\377\377\377\377\000\000\000\000\000\000\000\000'
	printf 'hi'
	printf 'LMF1\006\000\000\000\000\000\000\000\000\000\000\000\003\000\000\000\377\377\377\377\002\000\000\000\000\000\000\000'
	printf 'LMF1\006\000\000\000\000\000\000\000\000\000\000\000\377\377\377\377\377\377\377\377\003\000\000\000\000\000\000\000'
} > "$tmp/s.lm"

cat > "$tmp/want" <<'W'
{"header":{"version":1,"kind":"mixed","width":0,"elem":"f32","rate":7.5,"tags":{"X-seed":"42"}}}
{"type":"tokens","stream":3,"pos":0,"rows":1,"cols":2,"flags":1,"data":[[7,-1]]}
{"type":"latent","stream":0,"pos":5,"rows":1,"cols":2,"flags":0,"data":[[1.5,-2.0]]}
{"type":"text","stream":0,"pos":-1,"rows":1,"cols":2,"flags":0,"text":"hi"}
{"type":"mark","mark":"eom","stream":3,"pos":-1,"rows":0,"cols":0,"flags":0}
{"type":"mark","mark":"eos","stream":4294967295,"pos":-1,"rows":0,"cols":0,"flags":0}
W
"$fd" "$tmp/s.lm" > "$tmp/got" 2> "$tmp/err"
rc=$?
cmp -s "$tmp/got" "$tmp/want"
check "framedump prints the header and 5 frames as expected (exit $rc)" $(( $? || rc )) "$(diff "$tmp/want" "$tmp/got")"

"$fd" - < "$tmp/s.lm" | cmp -s - "$tmp/want"
check "framedump reads stdin as -" $?

head -1 "$tmp/s.lm" | grep -qx 'LLAMO1 kind=mixed width=0 elem=f32 rate=7.5 X-seed=42'
check "head -1 shows the header line" $?

"$fd" --header-only "$tmp/s.lm" "$tmp/s.lm" > "$tmp/got"
[ "$(cat "$tmp/got")" = "$(head -1 "$tmp/want")
$(head -1 "$tmp/want")" ]
check "--header-only over two files prints two header lines" $? "$(cat "$tmp/got")"

"$fd" --no-data "$tmp/s.lm" | grep -c -e '"data"' -e '"text":' > "$tmp/c"
[ "$(cat "$tmp/c")" = 0 ] && [ "$("$fd" --no-data "$tmp/s.lm" | wc -l)" = 6 ]
check "--no-data prints 6 lines without payloads" $?

# Garbage: exit 65, nothing on stdout, exactly one line on stderr naming the stream and place.
printf 'hello, world\n' | "$fd" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc = 65 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" = 1 ] &&
	grep -q '^framedump: -: header at byte 0: not a llamo stream' "$tmp/err"
check "garbage: exit 65 (got $rc), one stderr line" $? "$(cat "$tmp/err")"

# Truncated inside the second frame's payload: the frames before it print, then exit 65.
head -c 129 "$tmp/s.lm" > "$tmp/t.lm"
"$fd" "$tmp/t.lm" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc = 65 ] && [ "$(wc -l < "$tmp/out")" = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ] &&
	grep -qx "framedump: $tmp/t.lm: frame 1 at byte 94: truncated payload (end of input after 3 of 8 bytes)" "$tmp/err"
check "truncated payload: exit 65 (got $rc), 2 lines out, one error naming frame 1 at byte 94" $? "$(cat "$tmp/err")"

# Corrupt magic of the third frame (byte 134).
{ head -c 134 "$tmp/s.lm"; printf 'XMF1'; tail -c +139 "$tmp/s.lm"; } > "$tmp/c.lm"
"$fd" "$tmp/c.lm" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc = 65 ] && grep -qx "framedump: $tmp/c.lm: frame 2 at byte 134: bad magic (stream out of sync)" "$tmp/err"
check "bad magic: exit 65 (got $rc), frame 2 at byte 134" $? "$(cat "$tmp/err")"

"$fd" "$tmp/none.lm" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc = 66 ] && [ "$(wc -l < "$tmp/err")" = 1 ]
check "missing file: exit 66 (got $rc)" $? "$(cat "$tmp/err")"

"$fd" --frobnicate > /dev/null 2>&1
rc=$?
[ $rc = 64 ]
check "unknown option: exit 64 (got $rc)" $?

"$fd" --help | grep -q '^usage: framedump'
check "--help prints the usage and exits 0" $?

echo "1..$n"
exit $failed
