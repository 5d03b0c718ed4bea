#!/bin/sh
# make install / make uninstall: the library, its headers and bitgask.pc.
#
#   sh scripts/install-lib.sh strip|install|uninstall
#
# strip makes the stripped copies install copies (the Makefile runs it when the build changes, so
# `make && sudo make install` writes nothing into the build tree as root).
#
# Reads from the environment (the Makefile passes them): DESTDIR, prefix, libdir, includedir,
# VERSION, ABI, LIBDIR (the build's staged libraries), DIST (where stripped copies are made),
# debuginfo (yes: install the shared library's debug info too), OBJCOPY, STRIP.
#
# Why not cargo-c (cargo cinstall): it would give the same files, but it is one more tool to
# build before anyone can install (cargo install cargo-c compiles a few hundred crates), and its
# bitgask.pc lists -lgcc_s in Libs.private, which a -static link cannot find (bitgask.pc.in lists
# rustc's native-static-libs without it and without -lc: the compiler driver adds both).
set -eu

: "${DESTDIR=}" "${debuginfo=}" "${OBJCOPY:=objcopy}" "${STRIP:=strip}"
so=libbitgask.so.$VERSION
soname=libbitgask.so.$ABI
lib=$DESTDIR$libdir
inc=$DESTDIR$includedir

# Directories the dynamic loader searches without being told (Debian and most distributions):
# a library there is found through ld.so's cache, refreshed by ldconfig; anywhere else a program
# needs an rpath, which bitgask.pc then carries in its Libs.
loader_dir() {
    case "$1" in
        /lib | /lib64 | /usr/lib | /usr/lib64 | /usr/local/lib | /lib/*-linux-* | /usr/lib/*-linux-* | \
            /usr/local/lib/*-linux-*) return 0 ;;
        *) return 1 ;;
    esac
}

# Stripped copies in $DIST: the shared library as distributions strip theirs (--strip-unneeded,
# its dynamic symbols stay) with a .gnu_debuglink naming its debug file, the static archive of
# its debug sections only (its symbols are what a program links against).
strip_copies() {
    case "$LIBDIR" in /*) ;; *) LIBDIR=$(pwd)/$LIBDIR ;; esac
    mkdir -p "$DIST"
    "$OBJCOPY" --only-keep-debug "$LIBDIR/$so" "$DIST/$so.debug"
    (cd "$DIST" && "$OBJCOPY" --strip-unneeded --add-gnu-debuglink="$so.debug" "$LIBDIR/$so" "$so")
    "$STRIP" --strip-debug -o "$DIST/libbitgask.a" "$LIBDIR/libbitgask.a"
}

pc_file() {
    rpath=
    loader_dir "$libdir" || rpath=' -Wl,-rpath,${libdir}'
    sed -e "s|@prefix@|$prefix|" -e "s|@libdir@|$libdir|" -e "s|@includedir@|$includedir|" \
        -e "s|@VERSION@|$VERSION|" -e "s|@RPATH@|$rpath|" bitgask.pc.in
}

do_install() {
    install -d "$lib" "$lib/pkgconfig" "$inc"
    install -m 0755 "$DIST/$so" "$lib/"
    ln -sf "$so" "$lib/$soname"
    ln -sf "$soname" "$lib/libbitgask.so"
    install -m 0644 "$DIST/libbitgask.a" "$lib/"
    if [ "$debuginfo" = yes ]; then
        # gdb looks for a .gnu_debuglink file in .debug/ beside the library.
        install -d "$lib/.debug"
        install -m 0644 "$DIST/$so.debug" "$lib/.debug/"
    fi
    install -m 0644 include/bitgask.h include/bitgask.hpp "$inc/"
    pc_file >"$lib/pkgconfig/bitgask.pc"
    if [ -z "$DESTDIR" ] && loader_dir "$libdir"; then
        if [ "$(id -u)" = 0 ]; then
            ldconfig
        else
            echo "install: run ldconfig as root so the loader finds $libdir/$soname"
        fi
    fi
}

do_uninstall() {
    rm -f "$lib/$so" "$lib/$soname" "$lib/libbitgask.so" "$lib/libbitgask.a" "$lib/.debug/$so.debug" \
        "$inc/bitgask.h" "$inc/bitgask.hpp" "$lib/pkgconfig/bitgask.pc"
    rmdir "$lib/.debug" 2>/dev/null || true
}

case "${1:-}" in
    strip) strip_copies ;;
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) echo "usage: $0 strip|install|uninstall" >&2; exit 2 ;;
esac
