#!/bin/sh
# Installs what the language bindings' tests need, only when it is missing.
#
#   install-binding-deps.sh python VENV   a virtual environment at VENV (Debian's python3-venv
#                                         when `python3 -m venv` is unavailable) holding the
#                                         build and test packages of python/requirements-test.txt
#   install-binding-deps.sh go            Debian's golang-go (Go 1.19) when no `go` is on PATH
#
# Idempotent and silent when everything is already there. Uses sudo when not root.
set -eu

NAME=install-binding-deps
. "$(dirname "$0")/install-common.sh"
PY=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")/.." && pwd)

apt_install() {
    echo "install-binding-deps: apt-get install $*"
    quiet $SUDO apt-get update -qq
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

python_deps() {
    venv=$1
    if [ ! -x "$venv/bin/python" ]; then
        command -v "$PY" >/dev/null 2>&1 || apt_install python3 python3-venv
        # Debian splits venv (and the pip it bootstraps) into python3-venv.
        "$PY" -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; apt_install python3-venv; quiet "$PY" -m venv "$venv"; }
    fi
    if ! "$venv/bin/python" -c 'import cffi, setuptools, wheel, pytest, hypothesis, mypy' >/dev/null 2>&1; then
        echo "install-binding-deps: pip install -r python/requirements-test.txt into $venv"
        quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/python/requirements-test.txt"
    fi
}

go_deps() {
    command -v go >/dev/null 2>&1 || apt_install golang-go
}

case "${1:-}" in
    python) python_deps "${2:?usage: install-binding-deps.sh python VENV}" ;;
    go) go_deps ;;
    *) echo "usage: install-binding-deps.sh python VENV | go" >&2; exit 2 ;;
esac
