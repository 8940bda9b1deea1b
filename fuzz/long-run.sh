#!/usr/bin/env bash
# Long fuzzing runs: each target until RUNS executions (or MAX_SECONDS), one process each,
# from its seed corpus plus a persistent working corpus in fuzz/work/<target>/ (kept between
# runs, not committed). Prints one results row per target and keeps the libFuzzer logs in
# fuzz/work/<target>.log.
#
#   fuzz/long-run.sh json der                      # 10 million executions each
#   RUNS=50000000 fuzz/long-run.sh cbor_block
#   RUNS=0 MAX_SECONDS=300 fuzz/long-run.sh agent  # time-bounded (RUNS=0: no run limit)
set -euo pipefail

FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNS="${RUNS:-10000000}"
MAX_SECONDS="${MAX_SECONDS:-3600}"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
cd "$FUZZ"
status=0
for t in "$@"; do
    mkdir -p "work/$t"
    log="work/$t.log"
    result=ok
    limit=()
    if [ "$RUNS" != 0 ]; then
        limit=(-runs="$RUNS")
    fi
    if ! cargo "+$TOOLCHAIN" fuzz run "$t" "work/$t" "corpus/$t" -- "${limit[@]}" \
        -max_total_time="$MAX_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        result=FAILED
        status=1
    fi
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -Eo '[0-9]+ second' | grep -Eo '[0-9]+' | tail -1 || true)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    ft=$(grep -Eo 'ft: [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    echo "| $t | ${execs:-?} | ${secs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $result |"
done
exit "$status"
