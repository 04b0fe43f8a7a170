#!/usr/bin/env bash
# Runs the whole test suite, built beforehand with `swift build --build-tests` (make test does both).
#
# Each test target runs in a `swift test` of its own, one after the other: the end-to-end targets
# start servers, nginx and worker processes, and a machine with two cores running every target at
# once measures its own overload rather than the code. Within a target, at most TEST_PARALLELISM
# tests (three per core by default) run at once.
# A target that does not finish within TEST_TARGET_TIMEOUT seconds is stopped, with a backtrace of
# every thread of the test process printed first (the Swift runtime's backtracer), and counts as failed.
# The memory-bound tests (ASGITests' MemoryTests) run last, alone: parallel tests would move the
# resident memory they measure.
#
#   scripts/test.sh             every target
#   scripts/test.sh ASGITests   the named targets only
#   TEST_PACKAGE_PATH=Integrations/ASGIHummingbird scripts/test.sh   another package of the repository
set -uo pipefail
cd "$(dirname "$0")/.."
cd "${TEST_PACKAGE_PATH:-.}"

SWIFT="${SWIFT:-swift}"
TIMEOUT="${TEST_TARGET_TIMEOUT:-900}"
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,interactive=no,threads=all}"
# Swift Testing's own bound on how many tests run at once.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${TEST_PARALLELISM:-$(( $(nproc) * 3 ))}"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <($SWIFT test list --skip-build 2>/dev/null | cut -d. -f1 | sort -u)
    if [ ${#targets[@]} -eq 0 ]; then
        echo "test.sh: no tests found: build them first with '$SWIFT build --build-tests'" >&2
        exit 1
    fi
fi

# Runs `swift test` with the given arguments under a watchdog; returns its status (124: hung).
run_bounded() {
    $SWIFT test --skip-build "$@" &
    local pid=$! started=$SECONDS status
    (
        while kill -0 "$pid" 2>/dev/null; do
            if (( SECONDS - started >= TIMEOUT )); then
                echo "test.sh: '$*' did not finish within ${TIMEOUT} s: backtraces of the test process follow" >&2
                for child in $(pgrep -P "$pid"); do kill -ABRT "$child" 2>/dev/null; done
                sleep 30
                kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null
                exit 0
            fi
            sleep 2
        done
    ) &
    local watchdog=$!
    wait "$pid"
    status=$?
    if (( SECONDS - started >= TIMEOUT )); then status=124; fi
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    return "$status"
}

failed=()
for target in "${targets[@]}"; do
    echo "=== $target"
    skip=()
    [ "$target" = ASGITests ] && skip=(--skip MemoryTests)
    started=$SECONDS
    run_bounded --filter "^$target\\." "${skip[@]}"
    status=$?
    echo "=== $target: status $status after $((SECONDS - started)) s"
    [ $status -eq 0 ] || failed+=("$target")
done

if [[ " ${targets[*]} " == *" ASGITests "* ]]; then
    echo "=== ASGITests.MemoryTests (alone)"
    run_bounded --filter MemoryTests || failed+=("MemoryTests")
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: every target passed"
