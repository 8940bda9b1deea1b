#!/usr/bin/env bash
# Size report: flash (text + rodata + data) and static RAM of ota-core linked into a bare
# binary (size-probe/) at opt-level z, fat LTO, panic=abort — with and without the
# p256 + sha2 verifier — for thumbv7em-none-eabihf and riscv32imc-unknown-none-elf.
set -euo pipefail
cd "$(dirname "$0")/../size-probe"
SIZE=$(command -v llvm-size || true)
if [ -z "$SIZE" ]; then
  SIZE=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)
fi
[ -n "$SIZE" ] || { echo "llvm-size not found: rustup component add llvm-tools (or apt-get install llvm)"; exit 1; }
printf '%-26s %-8s %8s %8s %8s\n' target verifier flash ram "(text+rodata+data | data+bss)"
for target in thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
  for feat in none p256; do
    args=(--release --target "$target")
    [ "$feat" = p256 ] && args+=(--features p256)
    cargo build -q "${args[@]}"
    elf="target/$target/release/size-probe"
    read -r text data bss < <("$SIZE" -B "$elf" | awk 'NR==2 {print $1, $2, $3}')
    printf '%-26s %-8s %8d %8d\n' "$target" "$feat" "$((text + data))" "$((data + bss))"
  done
done
echo "flash = text (incl. rodata) + data of the whole probe binary: agent, parsers, core/compiler builtins."
