#!/usr/bin/env bash
# bitgask serve against redis-server with redis-benchmark, alternating the two over ROUNDS
# rounds (default 5), each server on a fresh directory and a free loopback port; prints the
# median requests per second of each row for each server and the ratio bitgask / Redis, and
# the resident memory 10,000 idle connections cost.
#
# Rows (issue 16's targets in brackets):
#   pipelined  -t set,get -n N -r 1000000 -d 100 -c 50 -P 16   [>= 1.5x Redis]
#   P1         -t set,get -n N -r 1000000 -d 100 -c 50 -P 1    [>= 1.2x Redis]
#              bitgask serve --no-sync --sync-interval-ms 1000 (writes flushed every second)
#              redis-server --appendonly yes --appendfsync everysec --save ''
#   durable    -t set -n N_DURABLE -r 1000000 -d 100 -c 50 -P 1 [>= 2x Redis]
#              bitgask serve (per-write sync, concurrent writes share fsyncs)
#              redis-server --appendonly yes --appendfsync always --save ''
#   idle       10,000 idle connections, resident memory per connection [<= 20 KiB for bitgask]
#
#   tests/server/bench_server.sh [path/to/bitgask]
#   (ROUNDS=5 N=1000000 N_DURABLE=100000 IDLE=10000 ROWS="pipelined p1 durable idle"
#    BITGASK_ARGS="--io-threads 2": more flags for every bitgask serve)
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-${BITGASK_BIN:-$ROOT/target/release/bitgask}}
ROUNDS=${ROUNDS:-5}
N=${N:-1000000}
N_DURABLE=${N_DURABLE:-100000}
IDLE=${IDLE:-10000}
ROWS=${ROWS:-pipelined p1 durable idle}
BITGASK_ARGS=${BITGASK_ARGS:-}
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

# start SERVER MODE DIR PORT: starts bitgask or redis in the row's durability mode.
# shellcheck disable=SC2086 # BITGASK_ARGS is split into flags on purpose
start() {
    case "$1/$2" in
        bitgask/fast) "$BIN" serve --dir "$3" --addr "127.0.0.1:$4" --no-sync --sync-interval-ms 1000 \
            --maxclients $((IDLE + 100)) $BITGASK_ARGS >"$TMP/bitgask.log" 2>&1 & ;;
        bitgask/durable) "$BIN" serve --dir "$3" --addr "127.0.0.1:$4" --maxclients $((IDLE + 100)) \
            $BITGASK_ARGS >"$TMP/bitgask.log" 2>&1 & ;;
        redis/*)
            mkdir -p "$3"
            local fsync=everysec
            [ "$2" = durable ] && fsync=always
            redis-server --port "$4" --bind 127.0.0.1 --dir "$3" --appendonly yes --appendfsync "$fsync" \
                --save '' --daemonize no --logfile "$TMP/redis.log" --maxclients $((IDLE + 100)) &
            ;;
    esac
    PID=$!
    wait_port "$4"
}

stop() {
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
}

# bench SERVER ROW PORT: runs the row's redis-benchmark, appends "SERVER ROW/TEST rps" to results.
bench() {
    local args
    case "$2" in
        pipelined) args="-t set,get -n $N -P 16" ;;
        p1) args="-t set,get -n $N -P 1" ;;
        durable) args="-t set -n $N_DURABLE -P 1" ;;
    esac
    # shellcheck disable=SC2086
    redis-benchmark -p "$3" $args -r 1000000 -d 100 -c 50 -q 2>&1 | tr '\r' '\n' \
        | sed -n 's/^\(SET\|GET\): \([0-9.]*\) requests per second.*/\1 \2/p' \
        | while read -r test rps; do echo "$1 $2/$test $rps" | tee -a "$TMP/results"; done
}

# idle SERVER PORT: resident KiB per idle connection, appended as "SERVER idle/KiB value".
idle() {
    python3 - "$PID" "$2" "$IDLE" <<'EOF' | while read -r kib; do echo "$1 idle/KiB $kib" | tee -a "$TMP/results"; done
import resource, socket, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def ping(s):
    s.sendall(b"PING\r\n")
    got = b""
    while len(got) < 7:
        got += s.recv(16)
    return got == b"+PONG\r\n"
warm = socket.create_connection(("127.0.0.1", port))
ping(warm)
time.sleep(0.5)
base = rss()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
for s in socks:  # every connection served once, then idle
    assert ping(s)
time.sleep(1)
print(f"{(rss() - base) / n:.1f}")
EOF
}

row() {  # row SERVER ROW ROUND
    local port dir mode=fast
    [ "$2" = durable ] && mode=durable
    port=$(free_port)
    dir="$TMP/$1-$2-$3"
    start "$1" "$mode" "$dir" "$port"
    if [ "$2" = idle ]; then idle "$1" "$port"; else bench "$1" "$2" "$port"; fi
    stop
    rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(redis-server --version | cut -d' ' -f1-3), load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round"
    for r in $ROWS; do
        # The idle row measures memory, not speed: once is enough.
        if [ "$r" = idle ] && [ "$round" -gt 1 ]; then continue; fi
        if [ $((round % 2)) -eq 1 ]; then
            row bitgask "$r" "$round"
            row redis "$r" "$round"
        else
            row redis "$r" "$round"
            row bitgask "$r" "$round"
        fi
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$TMP/results" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for name, key, value in rows:
    med.setdefault((name, key), []).append(float(value))
med = {k: statistics.median(v) for k, v in med.items()}
targets = {"pipelined": 1.5, "p1": 1.2, "durable": 2.0}
print()
print("| row | bitgask serve (median req/s) | redis-server (median req/s) | bitgask / redis | target |")
print("|---|---|---|---|---|")
ok = True
for key in sorted({k for _, k in med}, key=lambda k: (list(targets).index(k.split("/")[0]) if k.split("/")[0] in targets else 9, k)):
    if ("bitgask", key) not in med or ("redis", key) not in med:
        ok = False
        print(f"| {key} | {med.get(('bitgask', key), 'missing')} | {med.get(('redis', key), 'missing')} | | NOT measured |")
        continue
    b, r = med["bitgask", key], med["redis", key]
    if key == "idle/KiB":
        met = b <= 20
        ok &= met
        print(f"| 10,000 idle connections, KiB each | {b:.1f} | {r:.1f} | | <= 20 KiB: {'met' if met else 'NOT met'} |")
        continue
    ratio = b / r if r else 0.0
    want = targets[key.split("/")[0]]
    met = ratio >= want
    ok &= met
    print(f"| {key} | {b:,.0f} | {r:,.0f} | {ratio:.2f}x | >= {want}x: {'met' if met else 'NOT met'} |")
print()
print("every target:", "met" if ok else "NOT met")
EOF
