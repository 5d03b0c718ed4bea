#!/usr/bin/env bash
# redis-benchmark against `bitgask serve` with its default (durable) settings: every test must
# finish, and the server must have sent no error reply. Measures nothing; `make bench-server`
# does.
#
#   tests/server/benchmark_smoke.sh [path/to/bitgask]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-${BITGASK_BIN:-$ROOT/target/release/bitgask}}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bitgask-bench-smoke.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

passes=0
fails=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }

"$BIN" serve --dir "$TMP/db" --addr 127.0.0.1:0 >"$TMP/server.log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 1 500); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.log")
    [ -n "$PORT" ] && break
    sleep 0.02
done
[ -n "$PORT" ] || { cat "$TMP/server.log"; exit 1; }

run() {
    local want=$1; shift
    if timeout 120 redis-benchmark -p "$PORT" "$@" --csv >"$TMP/out.csv" 2>"$TMP/err.txt"; then ok; else bad "redis-benchmark $* exited $?"; fi
    sed 's/^/  /' "$TMP/out.csv"
    local got
    got=$(grep -c '^"[A-Z]' "$TMP/out.csv")  # one line per test
    [ "$got" -ge "$want" ] && ok || bad "expected $want result lines for: $*"
    grep -qi 'error' "$TMP/out.csv" "$TMP/err.txt" && bad "errors reported: $(cat "$TMP/err.txt")" || ok
}

run 4 -t set,get,incr,mset -n 20000 -P 16
run 2 -3 -t set,get -n 20000 -P 16 -r 1000 -d 100

stats=$(redis-cli -p "$PORT" INFO stats | tr -d '\r')
grep -q '^total_error_replies:0$' <<<"$stats" && ok || bad "server sent error replies: $(grep error <<<"$stats")"
cmds=$(sed -n 's/^total_commands_processed://p' <<<"$stats")
[ "${cmds:-0}" -ge 120000 ] && ok || bad "only ${cmds:-0} commands processed"
n=$(redis-cli -p "$PORT" GET counter:__rand_int__)
[ "$n" = 20000 ] && ok || bad "INCR counter is $n, want 20000 (lost updates?)"

kill -TERM "$PID"
wait "$PID" && ok || bad "server exit status $?"
PID=
echo "redis-benchmark: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
