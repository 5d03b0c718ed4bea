# Shared by the scripts/install-*-deps.sh scripts, which source it after setting NAME (the name
# their messages start with): SUDO (empty when root), LOG (removed at exit), and quiet, which runs
# a command showing its output only when it fails.

SUDO=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$NAME: not root and no sudo" >&2; exit 1; }
    SUDO=sudo
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

quiet() {
    if ! "$@" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "$NAME: failed: $*" >&2
        exit 1
    fi
}
