#!/usr/bin/env bash
# Drives bitgask's fuzz targets (fuzz/README.md). Run from anywhere; works on the repository.
#
#   fuzz/run.sh fuzz   [SECONDS]   every target for SECONDS each (default $FUZZ_SECONDS or 60),
#                                  corpus kept in fuzz/work/<target>/ between runs
#   fuzz/run.sh smoke  [SECONDS]   replay fuzz/regressions/ and fuzz/corpus/, then every target
#                                  for SECONDS each (default $SMOKE_SECONDS or 5) from the
#                                  committed corpus only; what make test runs
#   fuzz/run.sh replay             corpus and regressions through the targets as a plain
#                                  cargo test, no libFuzzer (also the fallback when cargo-fuzz
#                                  cannot be installed)
#
# Environment: FUZZ_TARGETS (default: all eight), FUZZ_SANITIZER (default none: the only one a
# stable toolchain builds), CARGO, CARGO_FUZZ_VERSION (installed when cargo-fuzz is missing).
# Prints executions and findings per target; exits non-zero when any target found something.
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
TARGETS=${FUZZ_TARGETS:-record_decode hint_parse meta_parse snapshot_load directory resp_parse glob_match dispatch}
SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
mode=${1:-smoke}

replay() {
    echo "== fuzz: replaying fuzz/corpus and fuzz/regressions as a plain cargo test"
    $CARGO test --release --manifest-path fuzz/Cargo.toml
}

if [ "$mode" = replay ]; then
    replay
    exit
fi
case "$mode" in
    fuzz) seconds=${2:-${FUZZ_SECONDS:-60}} ;;
    smoke) seconds=${2:-${SMOKE_SECONDS:-5}} ;;
    *) echo "usage: fuzz/run.sh fuzz|smoke|replay [SECONDS]" >&2; exit 2 ;;
esac

# cargo-fuzz from crates.io when missing. It works on a stable toolchain with --sanitizer none
# (the sanitizers need -Zsanitizer, i.e. nightly); coverage comes from -Cpasses=sancov-module,
# which stable rustc accepts.
if ! $CARGO fuzz --version >/dev/null 2>&1; then
    echo "== fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    if ! $CARGO install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"; then
        if [ "$mode" = smoke ]; then
            echo "== fuzz: cargo-fuzz could not be installed: replaying without fuzzing instead" >&2
            replay
            exit
        fi
        exit 1
    fi
fi

echo "== fuzz: building the targets (cargo fuzz build --sanitizer $SANITIZER)"
$CARGO fuzz build --sanitizer "$SANITIZER"
host=$(rustc -vV | sed -n 's/^host: //p')
bindir=fuzz/target/$host/release

# The directory target writes a database per input, dispatch keeps a throwaway one: somewhere
# fast, removed afterwards.
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$base/bitgask-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export BITGASK_FUZZ_TMPDIR=$scratch

summary=()
failed=0
for t in $TARGETS; do
    bin=$bindir/$t
    artifacts=fuzz/artifacts/$t
    mkdir -p "$artifacts" fuzz/regressions/$t
    before=$(ls "$artifacts" | wc -l)

    # Every committed crash input, one libFuzzer run each so every failure is named.
    mapfile -t regs < <(find fuzz/regressions/$t -type f ! -name '.*' | sort)
    bad=0
    if [ ${#regs[@]} -gt 0 ]; then
        echo "== fuzz: $t: replaying ${#regs[@]} regression input(s)"
        for r in "${regs[@]}"; do
            if ! "$bin" -timeout=20 -artifact_prefix="$scratch/" "$r" >"$scratch/replay.log" 2>&1; then
                why=$(grep -A1 -m1 'panicked at' "$scratch/replay.log" | tail -1)
                echo "   FAIL $r: ${why:-$(grep -m1 ERROR "$scratch/replay.log")}"
                bad=$((bad + 1))
            fi
        done
    fi
    if [ $bad -gt 0 ]; then
        summary+=("$(printf '%-14s %d of %d regression inputs FAIL (fuzz/regressions/%s; not fuzzed)' "$t" "$bad" "${#regs[@]}" "$t")")
        failed=1
        continue
    fi

    if [ "$mode" = fuzz ]; then
        work=fuzz/work/$t
    else
        work=$scratch/work-$t
    fi
    mkdir -p "$work"
    # Whole directories need room for a few records per file, request streams for pipelines
    # that reach the server's limits (64 KiB query buffer, 256 KiB of client memory in
    # dispatch); the other parsers do with libFuzzer's default (the largest seed, at least 4096).
    maxlen=()
    case $t in
        directory | resp_parse) maxlen=(-max_len=16384) ;;
        dispatch) maxlen=(-max_len=70000) ;;
    esac
    # Command names and framing tokens let the fuzzer build sessions (fuzz/dicts/).
    dict=()
    [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
    echo "== fuzz: $t for ${seconds}s"
    log=$scratch/$t.log
    started=$SECONDS
    set +e
    "$bin" "$work" fuzz/corpus/$t -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${maxlen[@]}" "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    took=$((SECONDS - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
    after=$(ls "$artifacts" | wc -l)
    if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
        failed=1
        found=$(ls -t "$artifacts" | head -1)
        grep -E "panicked|^[a-z].*(failed|found|lost|changed|damaged|differ)|SUMMARY|ERROR" "$log" | head -6
        finding="FOUND: $artifacts/$found (log: fuzz/artifacts/$t.log)"
        cp "$log" "fuzz/artifacts/$t.log"
    else
        finding="no findings"
    fi
    summary+=("$(printf '%-14s %5ss  %10s execs  %7s exec/s  %-30s %s' "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-}" "$finding")")
done

echo "== fuzz: summary ($mode)"
printf '%s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
    echo "== fuzz: findings above. A crash that is a library bug goes into fuzz/regressions/<target>/ (fuzz/README.md)."
fi
exit $failed
