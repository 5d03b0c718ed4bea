#!/bin/sh
# Profiles one phase of one engine in the bench-peers program with perf record: events are
# enabled only while that phase's timed work runs (perf's control FIFO, BENCH_PERF_CTL), so the
# loading that other phases need first stays out of the profile.
#
#   scripts/profile-bench-peers.sh PHASE [ENGINE] [extra bench_peers flags...]
#     PHASE:  puts gets reopen merge durable durable16 batch     ENGINE: bitgask (default) ...
#   env: OUT (directory for perf.data and report.txt; default a new temp dir),
#        CALLGRAPH (perf's --call-graph mode; default dwarf: Rust code has no frame pointers),
#        BENCH_PEERS (the program; default build/bench_peers, built by make build/bench_peers)
#
# Prints perf report's flat profile (self time) and its call graph above 2%; both stay in $OUT.
set -eu

[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
phase=$1
engine=${2:-bitgask}
[ $# -ge 2 ] && shift 2 || shift 1
bin=${BENCH_PEERS:-build/bench_peers}
out=${OUT:-$(mktemp -d)}
[ -x "$bin" ] || { echo "profile-bench-peers: $bin missing: run make build/bench_peers" >&2; exit 1; }
command -v perf >/dev/null 2>&1 || {
    echo "profile-bench-peers: perf missing: apt-get install linux-perf" >&2
    exit 1
}
mkdir -p "$out"
ctl="$out/perf.ctl"
rm -f "$ctl"
mkfifo "$ctl"

# cpu-clock: virtual machines often have no hardware cycle counter.
BENCH_PERF_CTL="$ctl" perf record -q -e cpu-clock -F 2000 --call-graph "${CALLGRAPH:-dwarf}" \
    --control "fifo:$ctl" --delay=-1 -o "$out/perf.data" -- \
    "$bin" --only "$engine" --phase "$phase" --rounds 1 "$@" >"$out/bench.txt"
rm -f "$ctl"

perf report -i "$out/perf.data" --no-children --stdio --percent-limit 1 -g none -F overhead,sym \
    --sort symbol 2>/dev/null | grep -v '^$' >"$out/flat.txt"
perf report -i "$out/perf.data" --children --stdio --percent-limit 2 -g caller,0.5,callee,function,percent \
    --sort symbol 2>/dev/null | grep -v '^$' >"$out/report.txt"
echo "== $engine, phase $phase: self time (perf report --no-children)"
sed -n '/^#/!p' "$out/flat.txt" | head -40
echo "== call graph: $out/report.txt; bench output: $out/bench.txt"
