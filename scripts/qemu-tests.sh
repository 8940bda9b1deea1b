#!/usr/bin/env bash
# Runs ota-core's whole-update simulation as a no_std binary under QEMU, on a Cortex-M4F
# (mps2-an386) and on RV32 (virt), and prints the combined `N passed, N failed`.
# Installs QEMU from Debian's packages if it is missing. Exit code: 0 only if both pass.
set -euo pipefail
cd "$(dirname "$0")/../qemu"

need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null || need+=(qemu-system-misc)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # One package at a time, without recommends: together they can trip apt's resolver.
    for p in "${need[@]}"; do
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$p"
    done
fi

total_pass=0
total_fail=0
status=0
for target in thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
    echo "== $target"
    cargo build --release --target "$target"
    log=$(mktemp)
    # `cargo run` uses the QEMU runner of .cargo/config.toml; a hung guest is killed.
    if timeout 300 cargo run --release --quiet --target "$target" | tee "$log"; then
        :
    else
        status=1
    fi
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "no result line from $target"
        status=1
        total_fail=$((total_fail + 1))
        continue
    fi
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
echo "qemu: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] || status=1
exit $status
