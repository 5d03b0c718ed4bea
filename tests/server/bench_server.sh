#!/usr/bin/env bash
# bitgask serve against redis-server with redis-benchmark, alternating the two over ROUNDS
# rounds (default 5), each on a fresh directory and a free loopback port; prints the median
# requests per second of SET and GET for each and the ratio bitgask / Redis.
#
#   bitgask serve --no-sync --sync-interval-ms 1000            (writes flushed every second)
#   redis-server --appendonly yes --appendfsync everysec --save ''
#   redis-benchmark -t set,get -n 1000000 -r 1000000 -d 100 -c 50 -P 16 -q
#
#   tests/server/bench_server.sh [path/to/bitgask]     (ROUNDS=5 N=1000000)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-${BITGASK_BIN:-$ROOT/target/release/bitgask}}
ROUNDS=${ROUNDS:-5}
N=${N:-1000000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bitgask-bench.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
    for _ in $(seq 1 500); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# bench NAME PORT: runs redis-benchmark, appends "NAME SET rps" and "NAME GET rps" to results.
bench() {
    redis-benchmark -p "$2" -t set,get -n "$N" -r 1000000 -d 100 -c 50 -P 16 -q 2>&1 | tr '\r' '\n' \
        | sed -n 's/^\(SET\|GET\): \([0-9.]*\) requests per second.*/\1 \2/p' \
        | while read -r test rps; do echo "$1 $test $rps" | tee -a "$TMP/results"; done
}

run_bitgask() {
    local port dir
    port=$(free_port)
    dir="$TMP/bitgask-$1"
    "$BIN" serve --dir "$dir" --addr "127.0.0.1:$port" --no-sync --sync-interval-ms 1000 >"$TMP/bitgask.log" 2>&1 &
    PID=$!
    wait_port "$port"
    bench bitgask "$port"
    kill -TERM "$PID"
    wait "$PID"
    PID=
    rm -rf "$dir"
}

run_redis() {
    local port dir
    port=$(free_port)
    dir="$TMP/redis-$1"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync everysec \
        --save '' --daemonize no --logfile "$TMP/redis.log" &
    PID=$!
    wait_port "$port"
    bench redis "$port"
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(redis-server --version | cut -d' ' -f1-3)"
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round"
    if [ $((round % 2)) -eq 1 ]; then
        run_bitgask "$round"
        run_redis "$round"
    else
        run_redis "$round"
        run_bitgask "$round"
    fi
done

python3 - "$TMP/results" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for name in ("bitgask", "redis"):
    for test in ("SET", "GET"):
        vals = [float(r[2]) for r in rows if r[0] == name and r[1] == test]
        med[name, test] = statistics.median(vals) if vals else 0.0
print()
print(f"| test | bitgask serve (median req/s) | redis-server (median req/s) | bitgask / redis |")
print(f"|---|---|---|---|")
ok = True
for test in ("SET", "GET"):
    b, r = med["bitgask", test], med["redis", test]
    ratio = b / r if r else 0.0
    ok &= ratio >= 1.0
    print(f"| {test} | {b:,.0f} | {r:,.0f} | {ratio:.2f}x |")
print()
print("target (>= 1.0x for SET and GET):", "met" if ok else "NOT met")
EOF
