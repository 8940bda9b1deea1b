#!/usr/bin/env bash
# Builds the no_std crates for the two MCU targets (and the PAL's host feature), with the
# features each crate's README lists. Fails on the first error.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*"; "$@"; }
run cargo build -q -p ota-pal-flash --no-default-features --features nrf52840 --target thumbv7em-none-eabihf
run cargo build -q -p ota-pal-flash --no-default-features --features esp32c3 --target riscv32imc-unknown-none-elf
run cargo build -q -p ota-pal-flash --no-default-features --features std
run cargo build -q -p ota-mqtt-minimq --release --target thumbv7em-none-eabihf --features defmt
run cargo build -q -p ota-mqtt-minimq --release --target riscv32imc-unknown-none-elf --features defmt
run cargo build -q -p ota-http-reqwless --release --target thumbv7em-none-eabihf --features defmt,tls
run cargo build -q -p ota-http-reqwless --release --target riscv32imc-unknown-none-elf --features defmt,tls
run cargo build -q -p ota-core --no-default-features --features defmt --target thumbv7em-none-eabihf
run cargo build -q -p ota-os-embassy --no-default-features --features mqtt-minimq,embassy-net,tls,defmt --target thumbv7em-none-eabihf
run cargo build -q -p ota-os-embassy --no-default-features --features mqtt-minimq,embassy-net,tls,log --target riscv32imc-unknown-none-elf
