#!/usr/bin/env bash
# The main job: a complete OTA update on this machine (embedded MQTT endpoint, Jobs and streams
# from ota-cloud, a signed 1 MiB image, a simulated device on file-backed flash, download with a
# progress bar, signature check, activation, reboot, self-test, accept). Exits 0 only when the
# job is SUCCEEDED and the device runs the new version.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p ota-sim -- demo "$@"
