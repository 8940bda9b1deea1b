#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md and prints the table of figures.
#
# Each figure is a ratio measured side by side in one run (the agent against the raw limit,
# pair by pair), because this 2-core machine is shared and noisy. Nothing here asserts a time:
# the binaries check only that every download arrived byte-identical and verified.
#
#   scripts/bench.sh            # everything: ~1.5 minutes on a quiet machine, ~5 under load,
#                               # after the first build of bench/ (~10 minutes)
#   scripts/bench.sh --quick    # fewer repetitions (a third of the time)
#
#   BUILD_BOARDS=1   rebuild the board firmware for the size table (scripts/build-boards.sh);
#                    by default the table is read from the ELF files already built
#   FLEET_1000=0     skip the 1,000-device fleet
#   OUT=DIR          keep every table and log in DIR (default: a temporary directory)
#
# Needs Debian's mosquitto and nginx (scripts/test-services.sh install) and, for the sizes,
# the llvm-tools rustup component and the thumbv7em / riscv32imc targets (as .ci/run does).
# The bench crate is its own workspace (bench/Cargo.toml), built into bench/target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ "$quick" = 1 ]; then
    mqtt_reps=2 http_reps=3 verify_reps=5 crit="--warm-up-time 0.5 --measurement-time 1 --sample-size 20"
else
    mqtt_reps=8 http_reps=15 verify_reps=31 crit="--warm-up-time 1 --measurement-time 2 --sample-size 50"
fi
out=${OUT:-$(mktemp -d -t ota-bench.XXXXXX)}
mkdir -p "$out"
manifest=bench/Cargo.toml
bin=bench/target/release

scripts/test-services.sh check

echo "== building bench/ (release) and ota-sim" >&2
cargo build -q --release --manifest-path "$manifest" --bins
cargo build -q --release --manifest-path "$manifest" -p ota-sim --bin ota-sim

section() { echo; echo "== $1" >&2; }

section "1. MQTT download vs raw publish/subscribe (mosquitto)"
"$bin/mqtt_download" --reps "$mqtt_reps" >"$out/mqtt.md" 2>"$out/mqtt.log"
cat "$out/mqtt.md"

section "2. HTTP download vs range-less GET (nginx)"
"$bin/http_download" --reps "$http_reps" >"$out/http.md" 2>"$out/http.log"
cat "$out/http.md"

section "3. core cost per 4 KB block vs memcpy (criterion)"
# shellcheck disable=SC2086
cargo bench -q --manifest-path "$manifest" --bench core_block -- $crit >"$out/criterion.log" 2>&1
"$bin/criterion_table" >"$out/core.md"
cat "$out/core.md"

section "4. verification of 4 MiB vs raw sha2"
"$bin/verify" --reps "$verify_reps" >"$out/verify.md" 2>"$out/verify.log"
cat "$out/verify.md"

section "5. resume after a power cut at 50 %"
"$bin/resume" >"$out/resume.md" 2>"$out/resume.log"
cat "$out/resume.md"

section "6. code size (scripts/size-report.sh, scripts/build-boards.sh)"
scripts/size-report.sh | tee "$out/size.txt"
if [ -n "${BUILD_BOARDS:-}" ]; then
    scripts/build-boards.sh >"$out/boards.txt" 2>"$out/boards.log"
else
    SKIP_BUILD=1 scripts/build-boards.sh >"$out/boards.txt" 2>"$out/boards.log" ||
        echo "(boards not built: run with BUILD_BOARDS=1)" >"$out/boards.txt"
fi
cat "$out/boards.txt"
# The agent's code by crate in the nRF52840 firmware (fat LTO: code inlined across crates is
# counted where it lands).
nrf_app=boards/nrf52840-dk/target/thumbv7em-none-eabihf/release/ota-nrf52840-dk
nm_tool="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-nm"
if [ -f "$nrf_app" ] && [ -x "$nm_tool" ]; then
    echo
    echo "nrf52840-dk application, code (text + rodata) by crate, bytes:"
    "$nm_tool" --print-size --size-sort --radix=d --demangle "$nrf_app" | awk '
        NF >= 4 && $3 ~ /^[tTrR]$/ {
            size = ($2 + 0); name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
            c = "other"
            if (name ~ /ota_core/) c = "ota-core"
            else if (name ~ /ota_os_embassy/) c = "ota-os-embassy (agent task)"
            else if (name ~ /ota_pal_flash/) c = "ota-pal-flash (platform)"
            else if (name ~ /ota_mqtt_minimq/) c = "ota-mqtt-minimq (adapter)"
            else if (name ~ /ota_http_reqwless/) c = "ota-http-reqwless (adapter)"
            else if (name ~ /minimq/) c = "minimq"
            else if (name ~ /reqwless/) c = "reqwless"
            else if (name ~ /sequential_storage/) c = "sequential-storage"
            else if (name ~ /p256|ecdsa|elliptic_curve|primeorder|crypto_bigint|sha2/) c = "verifier (p256, sha2)"
            sum[c] += size
        }
        END { for (c in sum) if (c != "other") printf "  %7d  %s\n", sum[c], c }' | sort -k2 | tee "$out/by-crate.txt"
fi

section "7. fleet (ota-sim fleet)"
"$bin/ota-sim" fleet --devices 100 2>&1 | tee "$out/fleet100.txt"
if [ "${FLEET_1000:-1}" != 0 ]; then
    "$bin/ota-sim" fleet --devices 1000 2>&1 | tee "$out/fleet1000.txt"
fi

# The table of figures.
echo
echo "## Figures ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| figure | value | goal | met |"
echo "|---|---|---|---|"
cat "$out/mqtt.md" "$out/http.md" "$out/core.md" "$out/verify.md" "$out/resume.md" |
    sed -n 's/^SUMMARY|\(.*\)|\(.*\)|\(.*\)|\(.*\)$/| \1 | \2 | \3 | \4 |/p'
read -r _ thumb_pars thumb_agent thumb_p256 thumb_logic thumb_verifier thumb_ram < <(grep '^thumbv7em' "$out/size.txt")
if [ -n "${thumb_logic:-}" ]; then
    met=$([ "$thumb_logic" -le 11878 ] && echo met || echo "not met")
    echo "| Code size thumbv7em opt-level z: agent without parsers and crypto ((2)-(1)) | $thumb_logic B (agent with parsers $thumb_agent B; parsers $thumb_pars B) | <= 11.6 KB (11,878 B; C agent 11,991 B measured) | $met |"
    echo "| Code size thumbv7em: the P-256/SHA-256 verifier ((3)-(2)) | $thumb_verifier B | - | - |"
    echo "| Static RAM of the agent (size_of Agent, stub / P256 verifier) | $thumb_ram B | (C agent: 1,512 B + 9.6 KB buffers) | - |"
fi
grep '^| nrf52840-dk application\|^| esp32c3 application\|^| nrf52840-dk bootloader' "$out/boards.txt" |
    awk -F'|' '{
        for (i = 2; i <= 7; i++) gsub(/^ +| +$/, "", $i)
        printf "| Board %s: flash / static RAM / agent code / verifier code / agent static RAM | %s / %s / %s / %s / %s B | - | - |\n", $2, $3, $4, $5, $6, $7
    }' || true
for n in 100 1000; do
    f="$out/fleet$n.txt"
    [ -f "$f" ] || continue
    line=$(grep 'SUCCEEDED in' "$f" | tail -n1 || true)
    [ -n "$line" ] && echo "| Fleet, $n devices, 64 KiB image over MQTT | ${line#fleet: } | (measured) | - |"
done
echo
echo "Tables and logs: $out"
