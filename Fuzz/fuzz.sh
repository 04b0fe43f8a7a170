#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer, replays every past crash in
# Regressions/<target>/, then fuzzes each target from its seed corpus Corpus/<target>/.
#
#   Fuzz/fuzz.sh time SECONDS [TARGET...]   fuzz each target for SECONDS (make fuzz, FUZZ_SECONDS)
#   Fuzz/fuzz.sh runs N [TARGET...]         N runs each, fixed seed (make fuzz-smoke, FUZZ_RUNS; CI)
#
# Targets default to every Sources/Fuzz* directory. A crash stops the script with status 1 and is
# copied to Fuzz/Findings/<target>/ (ignored by git): add it to Regressions/<target>/ and write a
# regression test for it. New corpus entries found by `time` runs are kept only with
# KEEP_CORPUS=1 (merged into Corpus/<target>/, minimised). Linux only.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-}
amount=${2:-}
if [[ "$mode" != time && "$mode" != runs ]] || ! [[ "$amount" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 time SECONDS [TARGET...] | $0 runs N [TARGET...]" >&2
    exit 2
fi
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for directory in Sources/Fuzz*; do
        name=$(basename "$directory")
        [ "$name" = FuzzSupport ] || targets+=("$name")
    done
fi

# -sanitize=fuzzer alone leaves whole-module-optimised (release) code without coverage
# instrumentation: ask for libFuzzer's counters explicitly.
build=(swift build -c release --sanitize=fuzzer --sanitize=address
       -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
echo "fuzz: building ${targets[*]}"
"${build[@]}" 2>&1 | grep -v "Cannot export local symbol" | tail -3
bin=$("${build[@]}" --show-bin-path)

work=$(mktemp -d "${TMPDIR:-/tmp}/asgi-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp"
# Spooled uploads and any temporary file a target makes go here, removed at the end.
export TMPDIR="$work/tmp"
# libFuzzer reports crashes itself; Swift's backtracer would wait on the sanitized process.
export SWIFT_BACKTRACE=enable=no

for target in "${targets[@]}"; do
    [ -x "$bin/$target" ] || { echo "fuzz: no target $target in $bin" >&2; exit 2; }
    mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "Corpus/$target"
    options=(-timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
             "-artifact_prefix=$work/artifacts/$target/")
    status=0
    if compgen -G "Regressions/$target/*" > /dev/null; then
        echo "fuzz: $target: replaying Regressions/$target"
        "$bin/$target" "${options[@]}" Regressions/"$target"/* > "$work/$target.replay.log" 2>&1 || status=$?
    fi
    if [ "$status" -eq 0 ]; then
        if [ "$mode" = time ]; then
            echo "fuzz: $target: fuzzing for $amount s"
            "$bin/$target" "${options[@]}" -max_total_time="$amount" "$work/corpus/$target" "Corpus/$target" > "$work/$target.log" 2>&1 || status=$?
        else
            echo "fuzz: $target: $amount runs"
            "$bin/$target" "${options[@]}" -runs="$amount" -seed=1 "$work/corpus/$target" "Corpus/$target" > "$work/$target.log" 2>&1 || status=$?
        fi
    fi
    if [ "$status" -ne 0 ]; then
        cat "$work/$target".*log 2>/dev/null | grep -v "^#" | tail -40
        mkdir -p "Findings/$target"
        cp "$work/artifacts/$target"/* "Findings/$target/" 2>/dev/null || true
        echo "fuzz: $target FAILED (status $status); inputs in Fuzz/Findings/$target/" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" | tr '\n' ' ' | sed "s/^/fuzz: $target: /"; echo
    if [ "$mode" = time ] && [ "${KEEP_CORPUS:-0}" = 1 ]; then
        "$bin/$target" -merge=1 "Corpus/$target" "$work/corpus/$target" > /dev/null 2>&1
    fi
done
echo "fuzz: all ${#targets[@]} targets passed"
