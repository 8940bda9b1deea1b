#!/usr/bin/env bash
# Builds the board firmware (release, stable, targets from rust-toolchain.toml) and prints a
# size table: flash and static RAM of each firmware, and the OTA agent's share of them.
#
#   scripts/build-boards.sh            # build + table
#   SKIP_BUILD=1 scripts/build-boards.sh   # table of what is built
#
# Sizes come from the ELF files with llvm-size / llvm-nm of the `llvm-tools` component (no
# cargo tools to install). The agent's share:
#   - static RAM: the statics the OTA code owns (OTA_MEMORY: agent, MQTT and socket buffers;
#     OTA_TASK: the agent, the MQTT session, the platform; the ota_task future; OTA_CHANNELS;
#     OTA_KEYS), read from the symbol table;
#   - code: the functions of ota-core, ota-os-embassy, ota-pal-flash, ota-mqtt-minimq, minimq
#     and sequential-storage (with fat LTO, code inlined across crates is counted where it
#     lands), and separately the P-256/SHA-256 verifier (p256, ecdsa, elliptic-curve,
#     primeorder, crypto-bigint, sha2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
tools="$sysroot/lib/rustlib/$host/bin"
if [ ! -x "$tools/llvm-size" ] || [ ! -x "$tools/llvm-nm" ]; then
    rustup component add llvm-tools
fi
SIZE="$tools/llvm-size"
NM="$tools/llvm-nm"

# Not --locked: the boards depend on the workspace crates by path, and their lock files follow
# those crates' dependencies (cargo updates only what changed).
if [ -z "${SKIP_BUILD:-}" ]; then
    for board in nrf52840-dk esp32c3; do
        echo "== building boards/$board (release)"
        (cd "boards/$board" && cargo build --release)
    done
fi

nrf_app=boards/nrf52840-dk/target/thumbv7em-none-eabihf/release/ota-nrf52840-dk
nrf_bl=boards/nrf52840-dk/target/thumbv7em-none-eabihf/release/ota-nrf52840-bootloader
esp_app=boards/esp32c3/target/riscv32imc-unknown-none-elf/release/ota-esp32c3

# sections <elf> <flash-regex> <ram-regex>: "flash ram" in bytes, from llvm-size -A.
sections() {
    "$SIZE" -A "$1" | awk -v f="$2" -v r="$3" '
        NR > 2 && $1 != "Total" {
            if ($1 ~ f) flash += $2
            if ($1 ~ r) ram += $2
        }
        END { printf "%d %d\n", flash, ram }'
}

# share <elf>: "agent_code verifier_code agent_ram" in bytes, from llvm-nm.
share() {
    "$NM" --print-size --size-sort --radix=d --demangle "$1" | awk '
        NF >= 4 {
            size = ($2 + 0); kind = $3
            name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
            if (kind ~ /^[tTrR]$/) {
                if (name ~ /ota_core|ota_os_embassy|ota_pal_flash|ota_mqtt_minimq|minimq|sequential_storage/) code += size
                else if (name ~ /p256|ecdsa|elliptic_curve|primeorder|crypto_bigint|sha2/) verifier += size
            } else if (kind ~ /^[bBdD]$/) {
                if (name ~ /OTA_MEMORY|OTA_TASK|OTA_CHANNELS|OTA_KEYS|ota_task::POOL/) ram += size
            }
        }
        END { printf "%d %d %d\n", code, verifier, ram }'
}

# Flash = what the image stores (code, read-only data, initial values of .data); static
# RAM = .data + .bss (+ the ESP32-C3's IRAM code), without stack and heap.
read -r nrf_flash nrf_ram < <(sections "$nrf_app" '^\.(vector_table|text|rodata|data)$' '^\.(data|bss|uninit)$')
read -r bl_flash bl_ram < <(sections "$nrf_bl" '^\.(vector_table|text|rodata|data)$' '^\.(data|bss|uninit)$')
read -r esp_flash esp_ram < <(sections "$esp_app" \
    '^\.(trap|rwtext|rwtext\.wifi|data|data\.wifi|flash\.appdesc|rodata|rodata\.wifi|text)$' \
    '^\.(trap|rwtext|rwtext\.wifi|data|data\.wifi|bss|noinit)$')
read -r nrf_code nrf_verifier nrf_agent_ram < <(share "$nrf_app")
read -r esp_code esp_verifier esp_agent_ram < <(share "$esp_app")

echo
echo "| firmware | flash | static RAM | agent code | verifier code | agent static RAM |"
echo "|---|---:|---:|---:|---:|---:|"
printf "| nrf52840-dk application | %d | %d | %d | %d | %d |\n" "$nrf_flash" "$nrf_ram" "$nrf_code" "$nrf_verifier" "$nrf_agent_ram"
printf "| nrf52840-dk bootloader | %d | %d | - | - | - |\n" "$bl_flash" "$bl_ram"
printf "| esp32c3 application | %d | %d | %d | %d | %d |\n" "$esp_flash" "$esp_ram" "$esp_code" "$esp_verifier" "$esp_agent_ram"
echo
echo "Bytes. Static RAM excludes stacks and the ESP32-C3 Wi-Fi heap (esp-alloc, 80 KiB)."
echo "The agent's static RAM, symbol by symbol (nrf52840-dk):"
"$NM" --print-size --size-sort --radix=d --demangle "$nrf_app" |
    awk '$3 ~ /^[bBdD]$/ && $0 ~ /OTA_MEMORY|OTA_TASK|OTA_CHANNELS|OTA_KEYS|ota_task::POOL/ {
        name = $4; sub(/::h[0-9a-f]+$/, "", name); printf "  %6d  %s\n", ($2 + 0), name }'
