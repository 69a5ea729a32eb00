#!/bin/bash
#
# make fuzz: builds the harnesses (fuzz/build.sh), runs each one for
# FUZZ_TIME seconds on its seed corpus, one process at a time, then
# replays every saved input in fuzz/regressions/<harness>/.  Any crash,
# leak, sanitizer report or broken property fails the run.
#
#   FUZZ_TIME=60 fuzz/run.sh              seconds per harness (0: seeds and
#                                         regressions only, no fuzzing)
#   FUZZ_TARGETS="cookie idp" fuzz/run.sh some harnesses only
#
# New interesting inputs collect in build/fuzz/corpus/<harness>/, crashes
# in build/fuzz/artifacts/<harness>/, logs in build/fuzz/logs/.

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
FUZZ_TIME=${FUZZ_TIME:-30}

if [ -z "${FUZZ_TARGETS:-}" ]; then
    FUZZ_TARGETS=$(cd "$ROOT/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

"$ROOT/fuzz/build.sh" || exit 1

ASAN=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
UBSAN=halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/fuzz/ubsan.supp

export ASAN_OPTIONS=${ASAN_OPTIONS:-$ASAN}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-$UBSAN}

for s in llvm-symbolizer-14 llvm-symbolizer; do
    if command -v "$s" > /dev/null; then
        export ASAN_SYMBOLIZER_PATH=$(command -v "$s")
        break
    fi
done

mkdir -p "$OUT/logs"

passed=0
failed=0
summary=()


max_len() {
    case $1 in
        idp)  echo 16384 ;;     # nested JSON and values over the 1024 cap
        *)    echo 4096 ;;
    esac
}


fuzz_one() {
    local name=$1 bin=$OUT/bin/fuzz_$1 log=$OUT/logs/$1.log
    local corpus=$OUT/corpus/$1 art=$OUT/artifacts/$1/ rc opts stats re execs

    mkdir -p "$corpus" "$art"

    opts=(-max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048
          -artifact_prefix="$art" -print_final_stats=1)

    if [ -f "$ROOT/fuzz/dict/$name.dict" ]; then
        opts+=(-dict="$ROOT/fuzz/dict/$name.dict")
    fi

    if [ "$FUZZ_TIME" -gt 0 ]; then
        opts+=(-max_total_time="$FUZZ_TIME")
    else
        opts+=(-runs=0)
    fi

    echo "fuzz: $name: ${FUZZ_TIME}s" >&2

    # new inputs go to the first directory; the seeds stay as they are

    "$bin" "${opts[@]}" "$corpus" "$ROOT/fuzz/corpus/$name" > "$log" 2>&1
    rc=$?

    # "#123 DONE cov: 477 ft: 1526 corp: 212/9Kb ..."
    re='.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*'
    stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -1 \
            | sed -E "s/$re/cov=\1 ft=\2 corpus=\3/")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)

    if [ $rc -ne 0 ]; then
        echo "fuzz: $name FAILED (exit $rc), log $log:" >&2
        grep -E -A40 '==ERROR|runtime error|ONEID-FUZZ|LeakSanitizer' "$log" \
            | head -60 >&2
        grep -E '^(artifact_prefix|Test unit written)' "$log" >&2
        failed=$((failed + 1))
        summary+=("$name: FAILED ${stats:-} execs=${execs:-?}")
        return
    fi

    passed=$((passed + 1))
    summary+=("$name: ok ${stats:-} execs=${execs:-?}")
}


replay_one() {
    local name=$1 bin=$OUT/bin/fuzz_$1 f log=$OUT/logs/$1-regressions.log
    local n=0 bad=0

    [ -d "$ROOT/fuzz/regressions/$name" ] || return

    : > "$log"

    for f in "$ROOT/fuzz/regressions/$name"/*; do
        [ -f "$f" ] || continue
        case $f in *.md|*.txt) continue ;; esac

        n=$((n + 1))

        if ! "$bin" -runs=1 "$f" >> "$log" 2>&1; then
            echo "fuzz: $name: regression $(basename "$f") FAILED" >&2
            bad=$((bad + 1))
        fi
    done

    if [ $bad -ne 0 ]; then
        echo "fuzz: $name: $bad of $n regressions fail, log $log" >&2
        failed=$((failed + 1))
        summary+=("$name regressions: $bad of $n FAILED")
    elif [ $n -ne 0 ]; then
        passed=$((passed + 1))
        summary+=("$name regressions: $n ok")
    fi
}


for name in $FUZZ_TARGETS; do
    if [ ! -x "$OUT/bin/fuzz_$name" ]; then
        echo "fuzz: no harness fuzz_$name" >&2
        failed=$((failed + 1))
        continue
    fi

    fuzz_one "$name"
done

for name in $FUZZ_TARGETS; do
    [ -x "$OUT/bin/fuzz_$name" ] && replay_one "$name"
done

echo
printf '  %s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"

[ $failed -eq 0 ]
