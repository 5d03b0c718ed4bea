#!/bin/sh
# Installs the peer engines that make bench-peers compares bitgask with, only when missing:
#   Debian: libleveldb-dev, liblmdb-dev, librocksdb-dev, libsqlite3-dev (headers + libraries)
# Idempotent and silent when everything is already there. Uses sudo when not root.
set -eu

NAME=install-bench-deps
. "$(dirname "$0")/install-common.sh"

# A package counts as present when dpkg says it is installed (its header alone could be a
# hand-built copy that does not match the library the linker finds).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

debs=
for p in libleveldb-dev liblmdb-dev librocksdb-dev libsqlite3-dev; do
    installed "$p" || debs="$debs $p"
done
if [ -n "$debs" ]; then
    echo "install-bench-deps: apt-get install$debs"
    quiet $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $debs
fi
