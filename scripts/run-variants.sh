#!/bin/sh
# Runs the test programs given (the variants of one suite: shared and static library, C++,
# sanitizers) at the same time, then prints each one's output in the order given, under
# "== LABEL (variant)". Fails if any of them failed. The runs share nothing (each test makes
# temporary directories of its own) and mostly wait on fsync, so together they take about as
# long as the slowest one instead of the sum; the output of each stays in one piece.
#
#   scripts/run-variants.sh LABEL PROGRAM...     (the variant is what follows the last "_")
set -u
label=$1
shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
n=0
for prog in "$@"; do
    n=$((n + 1))
    (
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$prog" >"$logs/$n.out" 2>&1
        echo $? >"$logs/$n.rc"
    ) &
done
wait
status=0
n=0
for prog in "$@"; do
    n=$((n + 1))
    echo "== $label (${prog##*_})"
    cat "$logs/$n.out"
    rc=$(cat "$logs/$n.rc")
    [ "$rc" = 0 ] || { echo "== $label (${prog##*_}) failed: exit status $rc"; status=1; }
done
exit $status
