#!/usr/bin/env bash
# Every command of `bitgask serve` through redis-cli, checking reply values and types
# (--no-raw prints them: (integer), (nil), (error), "bulk"). Starts its own servers on free
# loopback ports in a temp dir and stops them with SIGTERM (exit status 0 required).
#
#   tests/server/cli_test.sh [path/to/bitgask]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-${BITGASK_BIN:-$ROOT/target/release/bitgask}}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bitgask-cli-test.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

passes=0
fails=0

# start NAME [flags...]: starts a server; sets PORT and PID.
start() {
    local name=$1; shift
    # A new log for every start: the old one may still name the previous server's port.
    LOG="$TMP/$name.$RANDOM$RANDOM.log"
    "$BIN" serve --dir "$TMP/$name" --addr 127.0.0.1:0 "$@" >"$LOG" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    PORT=
    for _ in $(seq 1 500); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" 2>/dev/null)
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.02
    done
    echo "server $name did not start:"; cat "$LOG"; exit 1
}

# stop PID: SIGTERM, and the exit status must be 0.
stop() {
    kill -TERM "$1"
    wait "$1"
    local st=$?
    if [ "$st" -eq 0 ]; then passes=$((passes + 1)); else echo "FAIL: server exit status $st"; fails=$((fails + 1)); fi
}

cli() { redis-cli --no-raw --no-auth-warning -p "$PORT" "$@" 2>&1; }

# check WANT CMD...: the reply printed by redis-cli must be WANT exactly.
check() {
    local want=$1; shift
    local got
    got=$(cli "$@")
    if [ "$got" == "$want" ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: %s\n  want: %s\n  got:  %s\n' "$*" "$want" "$got"
    fi
}

# match REGEX CMD...: the reply must match the extended regex.
match() {
    local re=$1; shift
    local got
    got=$(cli "$@")
    if [[ "$got" =~ $re ]]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: %s\n  want match: %s\n  got: %s\n' "$*" "$re" "$got"
    fi
}

# session WANT LINES: the commands (one a line) go through one connection via stdin.
session() {
    local want=$1 lines=$2 got
    got=$(printf '%s\n' "$lines" | redis-cli --no-raw --no-auth-warning -p "$PORT" 2>&1)
    if [ "$got" == "$want" ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: session\n%s\n  want: %s\n  got:  %s\n' "$lines" "$want" "$got"
    fi
}

# session_match REGEX LINES: like session, the output must match the regex.
session_match() {
    local re=$1 lines=$2 got
    got=$(printf '%s\n' "$lines" | redis-cli --no-raw --no-auth-warning -p "$PORT" 2>&1)
    if [[ "$got" =~ $re ]]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: session\n%s\n  want match: %s\n  got:  %s\n' "$lines" "$re" "$got"
    fi
}

start main
NOW=$(date +%s)

# connection
check 'PONG' PING
check '"hello world"' PING "hello world"
check '"echo me"' ECHO "echo me"
check "(error) ERR wrong number of arguments for 'echo' command" ECHO
check 'OK' QUIT
check 'OK' SELECT 0
check '(error) ERR DB index is out of range' SELECT 1
check '(error) ERR value is not an integer or out of range' SELECT x
check "(error) ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?" AUTH foo
match '"server".*"proto".*\(integer\) 2' HELLO 2
match '^1# "server" => "redis".*proto" => \(integer\) 3' -3 HELLO 3
match '"id"' HELLO 3 SETNAME cli-test
check '(error) NOPROTO unsupported protocol version' HELLO 4
check "(error) ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' " NOSUCHCMD a b

# strings
check 'OK' SET k v
check '"v"' GET k
check '(nil)' GET missing
check "(error) ERR wrong number of arguments for 'get' command" GET
check "(error) ERR wrong number of arguments for 'get' command" GET a b
check '(nil)' SET k v2 NX
check 'OK' SET k v2 XX
check '(nil)' SET nope v XX
check '"v2"' SET k v3 GET
check 'OK' SET k v EX 100
check '(integer) 100' TTL k
check 'OK' SET k v PX 100000
match '^\(integer\) (99[0-9]{3}|100000)$' PTTL k
check 'OK' SET k v KEEPTTL
check '(integer) 100' TTL k
NOW=$(date +%s)
check 'OK' SET k v EXAT $((NOW + 200))
match '^\(integer\) (19[6-9]|200)$' TTL k
check 'OK' SET k v PXAT $(((NOW + 300) * 1000))
match '^\(integer\) (29[6-9]|300)$' TTL k
check "(error) ERR invalid expire time in 'set' command" SET k v EX 0
check '(error) ERR value is not an integer or out of range' SET k v EX ten
check '(error) ERR syntax error' SET k v NX XX
check '(error) ERR syntax error' SET k v BOGUS
check '(integer) 1' SETNX fresh 1
check '(integer) 0' SETNX fresh 2
check 'OK' SETEX sx 50 v
check '(integer) 50' TTL sx
check "(error) ERR invalid expire time in 'setex' command" SETEX sx 0 v
check 'OK' PSETEX psx 50000 v
match '^\(integer\) (49[0-9]{3}|50000)$' PTTL psx
check 'OK' MSET a 1 b 2 c 3
check $'1) "1"\n2) (nil)\n3) "3"' MGET a missing c
check "(error) ERR wrong number of arguments for 'mset' command" MSET a 1 b
check '"1"' GETDEL a
check '(nil)' GETDEL a
check '"2"' GETSET b 20
check '(integer) 4' APPEND b xy
check '"20xy"' GET b
check '(integer) 4' STRLEN b
check '(integer) 1' INCR n
check '(integer) 11' INCRBY n 10
check '(integer) 10' DECR n
check '(integer) 0' DECRBY n 10
check '(error) ERR value is not an integer or out of range' INCR b
check '(error) ERR value is not an integer or out of range' INCRBY n x
check 'OK' SET max 9223372036854775807
check '(error) ERR increment or decrement would overflow' INCR max

# keys
check '(integer) 2' EXISTS b b
check '(integer) 1' EXISTS b missing
check 'OK' MSET d1 1 d2 2 d3 3 d4 4
check '(integer) 2' DEL d1 d2 missing
check '(integer) 2' UNLINK d3 d4 d4
check '(integer) 0' EXISTS d1 d2 d3 d4
check 'string' TYPE b
check 'none' TYPE missing
check 'OK' SET t v
check '(integer) -1' TTL t
check '(integer) -2' TTL missing
check '(integer) -2' PTTL missing
check '(integer) 1' EXPIRE t 100
check '(integer) 0' EXPIRE t 100 NX
check '(integer) 1' EXPIRE t 200 GT
check '(integer) 200' TTL t
check '(integer) 1' PEXPIRE t 300000
check '(integer) 300' TTL t
NOW=$(date +%s)
check '(integer) 1' EXPIREAT t $((NOW + 400))
check "(integer) $((NOW + 400))" EXPIRETIME t
check '(integer) 1' PEXPIREAT t $(((NOW + 500) * 1000))
check "(integer) $(((NOW + 500) * 1000))" PEXPIRETIME t
check '(integer) 1' PERSIST t
check '(integer) 0' PERSIST t
check '(integer) -1' TTL t
check '(integer) 0' EXPIRE missing 10
check '(integer) 1' EXPIRE t -1
check '(integer) 0' EXISTS t
check "(error) ERR invalid expire time in 'expire' command" EXPIRE b 9223372036854775807
check 'OK' FLUSHDB
check 'OK' MSET hello 1 hallo 2 hxllo 3 hllo 4 world 5
check $'1) "hallo"\n2) "hello"\n3) "hxllo"' KEYS 'h?llo'
check $'1) "hallo"\n2) "hello"' KEYS 'h[ae]llo'
check $'1) "hallo"\n2) "hllo"\n3) "hxllo"' KEYS 'h[^e]*'
check '(integer) 5' DBSIZE
check $'1) "0"\n2) 1) "world"' SCAN 0 MATCH 'w*' COUNT 1000
check $'1) "0"\n2) (empty array)' SCAN 0 TYPE hash
check '(error) ERR invalid cursor' SCAN abc
check '(error) ERR invalid cursor' SCAN -1
check '(error) ERR syntax error' SCAN 0 COUNT 0
check '(error) ERR syntax error' SCAN 0 MATCH
match '^1\) "0"' SCAN 18446744073709551615 COUNT 99999999999
check '(integer) 5' DBSIZE
check 'OK' FLUSHALL
check '(integer) 0' DBSIZE
check '(error) ERR syntax error' FLUSHDB NOW

# transactions
session $'OK\nQUEUED\nQUEUED\n1) OK\n2) (integer) 2' $'MULTI\nSET m 1\nINCR m\nEXEC'
session $'OK\nQUEUED\nOK\n(nil)' $'MULTI\nSET m2 1\nDISCARD\nGET m2'
session $'OK\n(error) ERR unknown command \'NOPE\', with args beginning with: \n(error) EXECABORT Transaction discarded because of previous errors.' $'MULTI\nNOPE\nEXEC'

# server
match '# Server' INFO
match 'redis_version:7' INFO server
match 'connected_clients:1' INFO clients
match 'bitgask_data_files:[0-9]+' INFO persistence
match 'total_commands_processed:[0-9]+' INFO stats
match '# Keyspace' INFO keyspace
match '^"?(# Keyspace)?"?$' INFO nosuchsection
check 'OK' SAVE
check 'Background saving started' BGSAVE
match '^\(integer\) [0-9]{10}$' LASTSAVE
match '^1\) "[0-9]{10}"' TIME
check 'Background append only file rewriting started' BGREWRITEAOF
match '^\(integer\) [0-9]+$' COMMAND COUNT
match '1\) "get"' COMMAND DOCS get
match 'summary' COMMAND DOCS get
match '"get".*\(integer\) 2.*readonly' COMMAND INFO get
match '"set"' COMMAND
match '"get"' COMMAND LIST
check $'1) "save"\n2) ""' CONFIG GET save
check $'1) "appendonly"\n2) "yes"' CONFIG GET appendonly
match '"maxclients"' CONFIG GET 'max*'
match '^\(error\) ERR CONFIG SET is not supported' CONFIG SET timeout 5
check 'OK' CONFIG RESETSTAT
match '^\(integer\) [0-9]+$' CLIENT ID
check '(nil)' CLIENT GETNAME
session $'OK\n"me"' $'CLIENT SETNAME me\nCLIENT GETNAME'
check '(error) ERR Client names cannot contain spaces, newlines or special characters.' CLIENT SETNAME "a b"
session_match 'lib-name=mylib lib-ver=1\.0' $'CLIENT SETINFO LIB-NAME mylib\nCLIENT SETINFO LIB-VER 1.0\nCLIENT INFO'
match '^id=[0-9]+ addr=127\.0\.0\.1:' CLIENT LIST
match "^\\(error\\) ERR unknown subcommand 'BOGUS'" CLIENT BOGUS
session $'RESET' 'RESET'

# inline commands, as telnet sends them
got=$(printf 'PING\r\nSET inl "a b"\r\nGET inl\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; sleep 0.3; timeout 1 cat <&3" | tr -d '\r')
if [ "$got" == $'+PONG\n+OK\n$3\na b' ]; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: inline: $got"; fi

# interactive redis-cli (under tmux): it loads its help from COMMAND DOCS at start
if command -v tmux >/dev/null 2>&1; then
    sess="bitgask-cli-test-$$"
    tmux new-session -d -s "$sess" -x 160 -y 50 "redis-cli -p $PORT"
    sleep 0.5
    for line in "set tmuxkey 1" "help get" "get tmuxkey"; do
        tmux send-keys -t "$sess" "$line" Enter
        sleep 0.3
    done
    screen=$(tmux capture-pane -t "$sess" -p)
    tmux kill-session -t "$sess" 2>/dev/null
    if grep -q 'summary: Returns the string value of a key' <<<"$screen" && grep -q '^"1"' <<<"$screen"; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: interactive redis-cli:\n%s\n' "$screen"
    fi
else
    echo "tmux not found: interactive redis-cli not checked"
fi

# restart keeps the data
check 'OK' SET persisted yes
stop "$PID"
start main
check '"yes"' GET persisted
stop "$PID"

# authentication
start auth --requirepass s3cret
check '(error) NOAUTH Authentication required.' GET k
check '(error) NOAUTH Authentication required.' PING
check 'OK' QUIT
check '(error) WRONGPASS invalid username-password pair or user is disabled.' AUTH wrong
check 'OK' AUTH s3cret
check 'OK' AUTH default s3cret
check '(error) WRONGPASS invalid username-password pair or user is disabled.' AUTH other s3cret
match '"proto"' HELLO 3 AUTH default s3cret SETNAME authed
match '^\(error\) NOAUTH HELLO must be called' HELLO 3
check 'PONG' -a s3cret PING
check 'OK' -a s3cret SET k v
check '"v"' -a s3cret GET k
stop "$PID"

# SHUTDOWN ends the server like SIGTERM
start main
cli SHUTDOWN >/dev/null
wait "$PID"
st=$?
if [ "$st" -eq 0 ]; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: SHUTDOWN exit status $st"; fi

echo "redis-cli: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
