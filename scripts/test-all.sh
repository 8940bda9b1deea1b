#!/usr/bin/env bash
# Every test of the project: the host workspace (unit, transcript, property, simulation and
# real-broker/real-HTTP-server tests), the core's simulation under QEMU (Cortex-M4, RV32),
# and a short run of every fuzz target. Needs what .ci/run installs (mosquitto, nginx, qemu,
# the nightly toolchain for cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo test -p ota-http-reqwless --features tls
if [ -x scripts/qemu-tests.sh ]; then scripts/qemu-tests.sh; fi
if [ -x scripts/fuzz-smoke.sh ]; then scripts/fuzz-smoke.sh; fi
