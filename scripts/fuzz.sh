#!/usr/bin/env bash
# Fuzzes every parser we own with libFuzzer (issue #6): IDX (raw and gzip),
# safetensors (header and data, then loading into the Tiny layout), and the
# checkpoint / weights metadata (config, schedule, trainer options, step, RNG),
# and recordings (.ddpmtraj: parsed, replayed to the end, drawn as GIF frames).
#
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
#
# Builds Fuzz/ in debug (Swift bounds and overflow checks stay on) with
# -sanitize=fuzzer,address, runs each target for the given time starting from
# the committed seeds in Fuzz/Corpus/<target>, and writes what it finds under
# .build-fuzz/: new corpus entries (not committed) and crash-* inputs. A crash
# ends the script non-zero; fix it, then add the input to
# Tests/EngineTests/Fixtures/fuzz-regressions/<target>/ (FuzzRegressionTests runs them).
# FUZZ_TIMEOUT (seconds, default 10) is the per-input limit; on a busy 2-core
# machine a niced fuzzer can be starved past 10 s on an input that takes 1 s alone.
# Needs clang's lld (the Swift toolchain ships it).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(FuzzIDX FuzzSafeTensors FuzzCheckpoint FuzzRecording)
swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xswiftc -use-ld=lld 2>&1 | grep -v "Cannot export local symbol" | tail -n 3
bin=Fuzz/.build/debug
status=0
for t in "${targets[@]}"; do
    work=.build-fuzz/$t
    mkdir -p "$work/corpus" "$work/artifacts"
    echo "== $t: ${secs}s"
    if ! "$bin/$t" -max_total_time="$secs" -rss_limit_mb=4096 -timeout="${FUZZ_TIMEOUT:-10}" -max_len=65536 \
            -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
            "$work/corpus" "Fuzz/Corpus/$t" > "$work/log.txt" 2>&1; then
        status=1
        echo "   FAILED: see $work/log.txt and $work/artifacts/"
    fi
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$work/log.txt" | sed 's/^/   /' || true
    # Findings are crash-, leak-, oom- and timeout- inputs; slow-unit- ones (over 10 s, but finished) are listed apart.
    echo "   corpus now $(ls "$work/corpus" | wc -l) new inputs; findings: $(ls "$work/artifacts" | grep -cv '^slow-unit-' || true);" \
         "slow units: $(ls "$work/artifacts" | grep -c '^slow-unit-' || true)"
done
exit $status
