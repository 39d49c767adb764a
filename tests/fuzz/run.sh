#!/bin/sh
# ./dev fuzz [TARGET|all] [SECONDS]: builds the libFuzzer harnesses with
# clang in build/fuzz and fuzzes TARGET (default: every target in turn) for
# SECONDS each (default 60), on one core. The seed corpus
# tests/fuzz/corpus/TARGET is read, never written: new inputs go to
# build/fuzz/new/TARGET, crashes to build/fuzz/crashes/TARGET/. Exits 1 when
# any target crashed. See tests/fuzz/README.md.
set -eu
cd "$(dirname "$0")/../.."
target="${1:-all}"
secs="${2:-60}"
cc="${TG_FUZZ_CC:-clang-14}"
targets="toml config request sse classify headers anthropic_request anthropic_answer
anthropic_stream validate http responses_request messages_request messages_stream read
json_view traceparent otlp"
if [ "$target" != all ]; then
    case " $(echo $targets) " in
    *" $target "*) targets="$target" ;;
    *) echo "unknown fuzz target $target; one of: $(echo $targets)" >&2; exit 2 ;;
    esac
fi

cmake -S . -B build/fuzz -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTG_FUZZ=ON -DTG_WERROR=OFF >/dev/null
for t in $targets; do
    cmake --build build/fuzz -j 2 --target "fuzz_$t" >/dev/null
done

failed=""
for t in $targets; do
    mkdir -p "build/fuzz/new/$t" "build/fuzz/crashes/$t"
    log="build/fuzz/$t.log"
    echo "== fuzz $t for ${secs}s (log $log)"
    # One process, one core (the machine may be shared); crashes, leaks
    # and UB abort the run and leave their input in crashes/.
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "build/fuzz/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t/" \
        "build/fuzz/new/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 || true
        grep -E '^stat::number_of_executed_units' "$log" || true
    else
        failed="$failed $t"
        grep -E 'ERROR|SUMMARY|invariant broken|runtime error' "$log" | head -5 || true
        echo "   crash input: $(ls -t build/fuzz/crashes/$t | head -1)"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: crashes in:$failed (inputs under build/fuzz/crashes/, logs build/fuzz/*.log)" >&2
    exit 1
fi
echo "fuzz: no crash. New inputs are in build/fuzz/new/; to keep the ones that add coverage:"
echo "  build/fuzz/tests/fuzz/fuzz_TARGET -merge=1 tests/fuzz/corpus/TARGET build/fuzz/new/TARGET"
