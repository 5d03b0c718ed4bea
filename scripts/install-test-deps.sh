#!/bin/sh
# Installs what the server tests and benchmarks need, only when it is missing:
#   Debian: redis-tools (redis-cli, redis-benchmark), redis-server (bench-server's baseline),
#           nutcracker (twemproxy, test-cluster), tmux (drives an interactive redis-cli)
#   PyPI:   redis (redis-py) and pytest
# Idempotent and silent when everything is already there. Uses sudo when not root.
set -eu

NAME=install-test-deps
. "$(dirname "$0")/install-common.sh"
PY=${PYTHON:-python3}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

debs=
have redis-cli && have redis-benchmark || debs="$debs redis-tools"
have redis-server || debs="$debs redis-server"
have nutcracker || debs="$debs nutcracker"
have tmux || debs="$debs tmux"
have "$PY" || debs="$debs python3 python3-pip"
if [ -n "$debs" ]; then
    echo "install-test-deps: apt-get install$debs"
    quiet $SUDO apt-get update -qq
    # RUNLEVEL=1: a package's service (redis-server) must not start and take port 6379.
    # shellcheck disable=SC2086
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends $debs
fi

if ! "$PY" -c 'import redis, pytest' >/dev/null 2>&1; then
    echo "install-test-deps: pip install redis pytest"
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip
    fi
    # A Debian system Python refuses pip installs (PEP 668) unless told otherwise.
    if ! $SUDO "$PY" -m pip install -q --disable-pip-version-check redis pytest >"$LOG" 2>&1; then
        quiet $SUDO "$PY" -m pip install -q --disable-pip-version-check --break-system-packages redis pytest
    fi
    "$PY" -c 'import redis, pytest'
fi
