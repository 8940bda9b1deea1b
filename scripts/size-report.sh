#!/usr/bin/env bash
# Size report: ota-core linked into bare binaries (size-probe/) at opt-level z, fat LTO,
# panic=abort, for thumbv7em-none-eabihf and riscv32imc-unknown-none-elf.
#
#   (1) parsers   the codec entry points the agent calls (JSON, Jobs, status, CBOR, base64,
#                 Content-Range), alone                                 [size-probe/src/bin/parsers.rs]
#   (2) agent     the whole agent with a stub verifier (no crypto)      [size-probe/src/main.rs]
#   (3) +p256     the whole agent with P256Verifier (p256 + sha2)       [same, --features p256]
#   (2)-(1)       the agent's own logic without parsers: the figure comparable to the C agent's
#                 11.6 KB (published, -Os; 11,991 B measured), which excludes coreJSON/tinycbor
#   (3)-(2)       what the verifier adds
#   RAM           size_of::<Agent<..>>() on the target, as .bss of a static agent
#                 [size-probe/src/bin/ram.rs]; the caller's Buffers come on top
#
# flash = text (incl. rodata) + data. Every binary includes the runtime it needs (memcpy,
# memset, from_utf8, compiler builtins), so (2)-(1) charges the shared runtime to the parsers.
#
# Usage: scripts/size-report.sh [--top N]   (--top: also list the N largest symbols of (2))
set -euo pipefail
cd "$(dirname "$0")/../size-probe"
top=0
if [ "${1:-}" = "--top" ]; then top=${2:-30}; fi
tool() {
  local t
  t=$(command -v "$1" || true)
  if [ -z "$t" ]; then
    t=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/"$1" 2>/dev/null | head -n1 || true)
  fi
  [ -n "$t" ] || { echo "$1 not found: rustup component add llvm-tools (or apt-get install llvm)" >&2; exit 1; }
  echo "$t"
}
SIZE=$(tool llvm-size)
NM=$(tool llvm-nm)
flash() { "$SIZE" -B "$1" | awk 'NR==2 {print $1 + $2}'; }
ram() { "$SIZE" -B "$1" | awk 'NR==2 {print $2 + $3}'; }

printf '%-28s %8s %8s %8s %9s %9s %12s\n' target "(1)pars" "(2)agent" "(3)+p256" "(2)-(1)" "(3)-(2)" "RAM(2)/(3)"
for target in thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
  dir="target/$target/release"
  cargo build -q --release --target "$target"
  parsers=$(flash "$dir/parsers")
  agent=$(flash "$dir/size-probe")
  ram_agent=$(ram "$dir/ram")
  if [ "$top" -gt 0 ] && [ "$target" = thumbv7em-none-eabihf ]; then
    top_list=$("$NM" --print-size --size-sort -C --radix=d "$dir/size-probe" | tail -n "$top")
  fi
  cargo build -q --release --target "$target" --features p256
  p256=$(flash "$dir/size-probe")
  ram_p256=$(ram "$dir/ram")
  printf '%-28s %8d %8d %8d %9d %9d %5d/%d\n' "$target" "$parsers" "$agent" "$p256" \
    "$((agent - parsers))" "$((p256 - agent))" "$ram_agent" "$ram_p256"
done
echo "flash in bytes (text + rodata + data); (2)-(1) = agent logic without parsers,"
echo "comparable to the C agent's 11.6 KB without coreJSON/tinycbor (11,991 B at -Os measured)."
echo "RAM = the Agent value itself (stub verifier / P256Verifier); Buffers are the caller's."
if [ "$top" -gt 0 ]; then
  echo
  echo "largest symbols of (2) on thumbv7em (address, size, type, name):"
  echo "$top_list"
fi
