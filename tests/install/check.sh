#!/bin/sh
# make install-check: installs and links the way README.md's "Installing and linking" says, by
# running the README's own blocks (marked <!-- install-check: NAME -->) with HOME a scratch
# directory and the README's example program as demo.c; then checks what was installed (stripped
# libraries, bitgask.pc, DESTDIR, debuginfo=yes) and that make uninstall leaves nothing.
#
# Run from the repository root: sh tests/install/check.sh
set -eu

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home=$work/home
log=$work/log
mkdir -p "$home" "$work/run"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
so=libbitgask.so.$VERSION

fail() {
    echo "install-check: $*" >&2
    [ -s "$log" ] && cat "$log" >&2
    exit 1
}

# The body of the fenced block that follows the marker line.
block() {
    awk -v m="<!-- install-check: $1 -->" '
        seen && /^```/ { if (body) exit; body = 1; next }
        body { print }
        $0 == m { seen = 1 }' README.md
}

# No section whose name starts with .debug_ (readelf lists an archive's members one by one).
no_debug_info() {
    if readelf -S -W "$1" | grep -q '\.debug_'; then fail "$1 carries debug information"; fi
}

# 1. The README's install command, in this checkout.
cmd=$(block install)
[ -n "$cmd" ] || fail "README.md has no install-check: install block"
HOME=$home sh -eu -c "$cmd" >"$log" 2>&1 || fail "the README's install command failed: $cmd"
lib=$home/opt/lib

# 2. The README's example and link commands, with no help from the environment.
block demo.c | sed "s|/tmp/demo-db|$work/demo-db|" >"$work/run/demo.c"
[ -s "$work/run/demo.c" ] || fail "README.md has no install-check: demo.c block"
cmd=$(block link)
[ -n "$cmd" ] || fail "README.md has no install-check: link block"
(cd "$work/run" && env -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH -u LIBRARY_PATH -u CPATH HOME="$home" \
    sh -eu -c "$cmd") >"$log" 2>&1 || fail "the README's link commands failed"
n=$(grep -c '^hello = world$' "$log" || true)
[ "$n" = 3 ] || fail "expected three runs printing 'hello = world', got $n"
readelf -d "$work/run/demo" | grep -q "NEEDED.*libbitgask.so.0" || fail "demo does not load libbitgask.so.0"
readelf -d "$work/run/demo" | grep -q "R.*PATH.*$lib" || fail "demo has no rpath to $lib"
readelf -d "$work/run/demo-static" | grep -q NEEDED && fail "demo-static is not static"
readelf -d "$work/run/demo-archive" | grep -q "NEEDED.*libbitgask" && fail "demo-archive loads libbitgask.so"

# 3. What was installed.
: >"$log"
no_debug_info "$lib/$so"
no_debug_info "$lib/libbitgask.a"
[ "$(readlink "$lib/libbitgask.so.0")" = "$so" ] || fail "libbitgask.so.0 does not point at $so"
[ ! -e "$lib/.debug" ] || fail "a plain install installed debug information"
PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --static --libs bitgask | grep -q -- '-lutil -lrt -lpthread -lm -ldl' ||
    fail "pkg-config --static --libs bitgask lacks Libs.private"

# 4. A package staged with DESTDIR for a system prefix: no rpath, debug information on request,
#    gdb's link from the library to it.
dest=$work/pkg
make --no-print-directory install DESTDIR="$dest" prefix=/usr/local debuginfo=yes >"$log" 2>&1 ||
    fail "make install DESTDIR=... failed"
slib=$dest/usr/local/lib
grep -q '^prefix=/usr/local$' "$slib/pkgconfig/bitgask.pc" || fail "staged bitgask.pc names the wrong prefix"
grep -q rpath "$slib/pkgconfig/bitgask.pc" && fail "bitgask.pc for /usr/local carries an rpath"
readelf -S -W "$slib/.debug/$so.debug" | grep -q '\.debug_info' || fail "debuginfo=yes installed no debug info"
readelf -p .gnu_debuglink "$slib/$so" | grep -q "$so.debug" || fail "$so has no .gnu_debuglink"
make --no-print-directory uninstall DESTDIR="$dest" prefix=/usr/local >"$log" 2>&1 || fail "staged uninstall failed"
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "uninstall left: $left"

# 5. Uninstalling the README's install.
make --no-print-directory uninstall prefix="$home/opt" >"$log" 2>&1 || fail "make uninstall failed"
left=$(find "$home/opt" ! -type d)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install-check: ok (the README's install and link commands, stripped libraries, DESTDIR, debuginfo=yes, uninstall)"
