#!/usr/bin/env bash
# Short CI run of every cargo-fuzz target of ota-core (fuzz/): builds them once, runs each from
# its checked-in seed corpus for a few seconds, prints executions and coverage per target, and
# fails on any crash, panic, timeout or leak.
#
#   scripts/fuzz-smoke.sh                  # all targets
#   scripts/fuzz-smoke.sh agent json       # some targets
#   FUZZ_SECONDS=30 FUZZ_AGENT_SECONDS=120 scripts/fuzz-smoke.sh
#
# Needs the nightly toolchain (cargo-fuzz passes -Zsanitizer=address); installs cargo-fuzz
# when it is missing. The seed corpora are read-only here: new inputs go to a temporary
# directory, so the checked-in corpus/ never changes. Crashes are kept in fuzz/artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-8}"
AGENT_SECONDS="${FUZZ_AGENT_SECONDS:-16}"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
ALL_TARGETS=(jobs_envelope job_document cbor_block cbor_stream_error cbor_get_stream base64 der
    jobs_answer content_range json resume tls_chain identity agent)

if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL_TARGETS[@]}")
fi

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing the $TOOLCHAIN toolchain (cargo-fuzz needs it)"
    rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    (cd / && cargo install --locked cargo-fuzz)
fi

cd "$FUZZ"
start=$(date +%s)
echo "fuzz-smoke: building ${#TARGETS[@]} target(s) with $TOOLCHAIN"
build_log="$(mktemp)"
if [ "$#" -eq 0 ]; then
    build=(build)
else
    build=()
fi
if [ "${#build[@]}" -eq 1 ]; then
    cargo "+$TOOLCHAIN" fuzz build >/dev/null 2>"$build_log" || { cat "$build_log"; exit 1; }
else
    for t in "${TARGETS[@]}"; do
        cargo "+$TOOLCHAIN" fuzz build "$t" >/dev/null 2>"$build_log" || { cat "$build_log"; exit 1; }
    done
fi
rm -f "$build_log"
echo "fuzz-smoke: built in $(($(date +%s) - start)) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
passed=0
printf '%-18s %10s %8s %8s %6s  %s\n' target execs exec/s cov seeds result
for t in "${TARGETS[@]}"; do
    secs="$SECONDS_PER_TARGET"
    [ "$t" = agent ] && secs="$AGENT_SECONDS"
    mkdir -p "$work/$t"
    log="$work/$t.log"
    seeds="$FUZZ/corpus/$t"
    status=ok
    # Single process (no -jobs/-workers): one core, output on stderr.
    if ! cargo "+$TOOLCHAIN" fuzz run "$t" "$work/$t" "$seeds" -- \
        -max_total_time="$secs" -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=FAILED
    fi
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
    nseeds=$(find "$seeds" -type f 2>/dev/null | wc -l)
    printf '%-18s %10s %8s %8s %6s  %s\n' "$t" "${execs:-${runs:-?}}" "${rate:-?}" "${cov:-?}" "$nseeds" "$status"
    if [ "$status" != ok ]; then
        failed=$((failed + 1))
        echo "---- $t: last lines of the libFuzzer log"
        grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' "$log" | tail -40
        echo "---- reproduce: cd fuzz && cargo +$TOOLCHAIN fuzz run $t fuzz/artifacts/$t/<crash file>"
    else
        passed=$((passed + 1))
    fi
done
echo "fuzz-smoke: total $(($(date +%s) - start)) s"
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
