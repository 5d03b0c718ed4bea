#!/usr/bin/env bash
# Unpipelined GET/SET (issue 16's -P 1 row) against several servers, in alternating order over
# ROUNDS rounds: redis-server, `bitgask serve` (default and --io-threads 1) and uring-serve (one
# and two threads; one polling before it sleeps; one and two gathering completions). For each
# run it prints the SET and GET rates and, counted by `perf stat` for the whole run, the
# server's system calls, context switches and CPU time per request and the client's
# (redis-benchmark's) CPU, context switches and system calls per request. Medians per server at
# the end (docs/DESIGN.md section 13.6 has a run).
#
#   bench/uring-serve/compare.sh BITGASK URING_SERVE
#   (ROUNDS=3 N=1000000 CHRT="chrt -f 10" SPIN_US=50 WAIT_US=20
#    SERVERS="redis bitgask bitgask-io1 uring1 uring2 uring1-spin uring1-wait uring2-wait uring2-spin")
# The -spin servers poll their ring for SPIN_US microseconds after the last completion before
# they sleep. Two polling threads and the client need three cores: at real-time priority on two
# the polling threads hold the client off until they give up (uring2-spin is not in the default).
# The -wait servers set io_uring's minimum batch wait to WAIT_US microseconds (--min-wait-us,
# kernel 6.12 and later).
#
# CHRT runs the servers and the client at real-time priority, so on a machine loaded by other
# work they are not preempted by it (set CHRT= to run at normal priority). Needs perf with
# access to tracepoints (root, or perf_event_paranoid <= 1 on your own processes).
set -eu -o pipefail
BITGASK=${1:?path to the bitgask binary}
URING=${2:?path to the uring-serve binary}
ROUNDS=${ROUNDS:-3}
N=${N:-1000000}
CHRT=${CHRT-chrt -f 10}
SERVERS=${SERVERS:-redis bitgask bitgask-io1 uring1 uring2 uring1-spin uring1-wait uring2-wait}
SPIN_US=${SPIN_US:-50}
WAIT_US=${WAIT_US:-20}
command -v perf >/dev/null 2>&1 || {
    echo "compare.sh: perf missing: apt-get install linux-perf" >&2
    exit 1
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/uring-compare.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start SERVER DIR PORT
start() {
    case "$1" in
        redis) mkdir -p "$2"
            $CHRT redis-server --port "$3" --bind 127.0.0.1 --dir "$2" --appendonly yes --appendfsync everysec \
                --save '' --daemonize no --logfile "$TMP/redis.log" & ;;
        bitgask) $CHRT "$BITGASK" serve --dir "$2" --addr "127.0.0.1:$3" --no-sync --sync-interval-ms 1000 \
            >"$TMP/server.log" 2>&1 & ;;
        bitgask-io1) $CHRT "$BITGASK" serve --dir "$2" --addr "127.0.0.1:$3" --no-sync --sync-interval-ms 1000 \
            --io-threads 1 >"$TMP/server.log" 2>&1 & ;;
        uring1) $CHRT "$URING" --dir "$2" --port "$3" --threads 1 >"$TMP/server.log" 2>&1 & ;;
        uring2) $CHRT "$URING" --dir "$2" --port "$3" --threads 2 >"$TMP/server.log" 2>&1 & ;;
        uring1-spin) $CHRT "$URING" --dir "$2" --port "$3" --threads 1 --spin-us "$SPIN_US" >"$TMP/server.log" 2>&1 & ;;
        uring1-wait) $CHRT "$URING" --dir "$2" --port "$3" --threads 1 --min-wait-us "$WAIT_US" >"$TMP/server.log" 2>&1 & ;;
        uring2-wait) $CHRT "$URING" --dir "$2" --port "$3" --threads 2 --min-wait-us "$WAIT_US" >"$TMP/server.log" 2>&1 & ;;
        uring2-spin) $CHRT "$URING" --dir "$2" --port "$3" --threads 2 --spin-us "$SPIN_US" >"$TMP/server.log" 2>&1 & ;;
    esac
    PID=$!
    for _ in $(seq 1 500); do
        redis-cli -p "$3" PING >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    echo "$1 did not start" >&2
    exit 1
}

# value FILE EVENT: the count perf stat -x, wrote for EVENT.
value() { awk -F, -v e="$2" '$3 == e { print $1 }' "$1"; }

run() {  # run SERVER ROUND
    local port dir out
    port=$(free_port)
    dir="$TMP/$1-$2"
    start "$1" "$dir" "$port"
    perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p "$PID" -o "$TMP/server.perf" &
    local perf=$!
    sleep 0.2
    # shellcheck disable=SC2086
    out=$(perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -o "$TMP/client.perf" -- $CHRT redis-benchmark -p "$port" \
        -t set,get -n "$N" -r 1000000 -d 100 -c 50 -P 1 -q 2>&1 | tr '\r' '\n')
    kill -INT "$perf"
    wait "$perf" || true
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    rm -rf "$dir"
    local set get req=$((2 * N))
    set=$(echo "$out" | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p')
    get=$(echo "$out" | sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p')
    echo "$1 $2 $set $get $(value "$TMP/server.perf" raw_syscalls:sys_enter) $(value "$TMP/server.perf" \
        context-switches) $(value "$TMP/server.perf" task-clock) $(value "$TMP/client.perf" task-clock) $req \
        $(value "$TMP/client.perf" context-switches) $(value "$TMP/client.perf" raw_syscalls:sys_enter)" \
        | tee -a "$TMP/results" | awk '{ printf "%-12s round %s  SET %9.0f  GET %9.0f  syscalls/req %.3f  switches/req %.3f  server us/req %.2f  client us/req %.2f  client switches/req %.3f  client syscalls/req %.3f\n",
            $1, $2, $3, $4, $5 / $9, $6 / $9, $7 * 1000 / $9, $8 * 1000 / $9, $10 / $9, $11 / $9 }'
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), priority: ${CHRT:-normal}"
read -r -a servers <<<"$SERVERS"
for round in $(seq 1 "$ROUNDS"); do
    # Each round starts with the next server, so none always runs first or last.
    n=${#servers[@]}
    for i in $(seq 0 $((n - 1))); do
        run "${servers[$(((i + round - 1) % n))]}" "$round"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$TMP/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, s, g, sc, cs, cpu, ccpu, req, ccs, csc = line.split()
    req = float(req)
    rows.setdefault(name, []).append((float(s), float(g), float(sc) / req, float(cs) / req,
                                      float(cpu) * 1000 / req, float(ccpu) * 1000 / req, float(ccs) / req, float(csc) / req))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
ref = med.get("redis")
print()
print("| server | SET req/s | GET req/s | SET / redis | GET / redis | syscalls/req | switches/req | server CPU us/req | client CPU us/req | client switches/req | client syscalls/req |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for k, (s, g, sc, cs, cpu, ccpu, ccs, csc) in med.items():
    rs = f"{s / ref[0]:.2f}x" if ref else ""
    rg = f"{g / ref[1]:.2f}x" if ref else ""
    print(f"| {k} | {s:,.0f} | {g:,.0f} | {rs} | {rg} | {sc:.3f} | {cs:.3f} | {cpu:.2f} | {ccpu:.2f} | {ccs:.3f} | {csc:.3f} |")
EOF
