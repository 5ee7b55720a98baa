#!/usr/bin/env bash
# examples/slurm-array.sh and examples/parallel.sh for real (issue 13): a one-node Slurm cluster
# started here (munged, slurmctld and slurmd on 127.0.0.1, a minimal slurm.conf in a temporary
# directory, no GPU gres), `sbatch --wait --array=0-2` over a five-prompt file, and GNU parallel
# with 2 jobs; both give, byte for byte, the BVH files one `llamo-t2m --batch | vae-dec` run
# gives. The script is submitted as written; the command line only fits its requests to this
# node (--gres=none: no GPU; --cpus-per-task=1; the log in the temporary directory) and
# LLAMO_DEVICE=cpu. The daemons started here are stopped (TERM, then KILL) on exit. Skipped with
# the reason when slurm-wlm or munge is missing or the daemons do not start; .ci/run sets
# LLAMO_REQUIRE_SLURM=1, which makes that a failure.
set -u
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$PWD/bin:$PATH"
tmp=$(mktemp -d /tmp/llamo-slurm.XXXXXX)
chmod 755 $tmp
pids=()
stop() {
	local p
	# jobs still queued or running (a timed-out sbatch) go first
	[ -n "${SLURM_CONF:-}" ] && [ ${#pids[@]} -gt 1 ] && timeout 5 scancel --partition=llamo > /dev/null 2>&1
	for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null; done
	for _ in $(seq 50); do
		local alive=0
		for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL $p 2>/dev/null; done
	pids=()
}
trap 'stop; rm -rf "$tmp"' EXIT
. tests/tap.sh
okd() { ok "$@"; [ "$1" = 0 ]; } # ok, and a status for || diagnostics
skip() {
	if [ -n "${LLAMO_REQUIRE_SLURM:-}" ]; then echo "not ok $((n + 1)) - $1 (LLAMO_REQUIRE_SLURM is set)"; n=$((n + 1)); fail=1; done_testing; exit 1; fi
	n=$((n + 1)); echo "ok $n # SKIP $1"; done_testing; exit
}

# the reference: one batch run
printf '%s\n' "# five prompts, short" "1.5	a person walks forward" "1	a person waves with the left hand" "" \
	"1.5	a person jumps" "1	an old person walks" "1	a person kicks with the right foot" > $tmp/prompts.txt
mkdir $tmp/one
llamo-t2m --batch $tmp/prompts.txt 2>/dev/null | vae-dec -o "$tmp/one/%05d.bvh"
ok $? "llamo-t2m --batch | vae-dec: $(ls $tmp/one | wc -l) BVH files"

same() { # DIR WHAT
	local d
	d=$(diff -r $tmp/one $1 2>&1)
	[ -z "$d" ]; okd $? "$2: the same $(ls $1 | wc -l) files as one batch run, byte for byte" || echo "$d" | sed 's/^/# /' | head -5
}

# GNU parallel, 2 jobs, parts of 2 prompts
if command -v parallel > /dev/null; then
	timeout 300 sh examples/parallel.sh $tmp/prompts.txt $tmp/par 2 2 2> $tmp/par.err
	okd $? "examples/parallel.sh PROMPTS OUT 2 2 (GNU parallel, 2 jobs)" || sed 's/^/# /' $tmp/par.err | tail -5
	same $tmp/par "examples/parallel.sh"
else
	[ -n "${LLAMO_REQUIRE_SLURM:-}" ] && ok 1 "GNU parallel is not installed (LLAMO_REQUIRE_SLURM is set)"
	echo "# GNU parallel is not installed: examples/parallel.sh not run"
fi

# the cluster
for c in munged mungekey slurmctld slurmd sbatch scontrol; do
	command -v $c > /dev/null || skip "$c is not installed (Debian: munge, slurm-wlm)"
done
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p $tmp/munge $tmp/state $tmp/spool $tmp/log
chmod 700 $tmp/munge
mungekey -c -k $tmp/munge/key 2> $tmp/log/mungekey || skip "mungekey failed: $(head -1 $tmp/log/mungekey)"
munged -F -f --key-file=$tmp/munge/key --socket=$tmp/munge/sock --pid-file=$tmp/munge/pid \
	--log-file=$tmp/log/munged.log --seed-file=$tmp/munge/seed 2> $tmp/log/munged.err &
pids+=($!)
cat > $tmp/slurm.conf <<CONF
ClusterName=llamotest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
NodeName=llamonode NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=llamo Nodes=llamonode Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$tmp/slurm.conf
for _ in $(seq 50); do [ -S $tmp/munge/sock ] && break; sleep 0.1; done
[ -S $tmp/munge/sock ] || skip "munged did not start: $(tail -1 $tmp/log/munged.err $tmp/log/munged.log 2>/dev/null | tr '\n' ' ')"
slurmctld -D -i > $tmp/log/slurmctld.out 2>&1 &
pids+=($!)
slurmd -D -N llamonode > $tmp/log/slurmd.out 2>&1 &
pids+=($!)
state=
for _ in $(seq 150); do
	state=$(timeout 5 sinfo -h -n llamonode -o %T 2>/dev/null)
	[ "$state" = idle ] && break
	sleep 0.2
done
[ "$state" = idle ] || { tail -3 $tmp/log/*.log $tmp/log/*.out 2>/dev/null | sed 's/^/# /'; skip "the Slurm daemons did not start (node state '${state:-none}')"; }
ok 0 "slurmctld and slurmd on 127.0.0.1, port $port: node llamonode idle"

mkdir $tmp/arr
LLAMO_DEVICE=cpu timeout 300 sbatch --wait --array=0-2 --gres=none --cpus-per-task=1 \
	--output="$tmp/log/slurm-%A_%a.log" examples/slurm-array.sh $tmp/prompts.txt $tmp/arr > $tmp/sbatch.out 2>&1
okd $? "sbatch --wait --array=0-2 examples/slurm-array.sh: $(cat $tmp/sbatch.out | tr '\n' ' ')" ||
	{ cat $tmp/log/slurm-*.log | sed 's/^/# /' | tail -10; }
same $tmp/arr "examples/slurm-array.sh, 3 array tasks"
is "$(ls $tmp/log | grep -c '^slurm-.*_[0-2]\.log$')" 3 "three array task logs"
started="${pids[*]}"
stop
left=$(for p in $started; do kill -0 $p 2>/dev/null && echo $p; done | tr '\n' ' ')
[ -z "$left" ]; ok $? "munged, slurmctld and slurmd ($started) are stopped (left: ${left:-none})"
done_testing
