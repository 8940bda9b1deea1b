#!/usr/bin/env bash
# Test services for the transport adapters' tests (ota-mqtt-minimq, ota-http-reqwless).
#
# The tests start and stop their own mosquitto and nginx on free loopback ports; they only need
# Debian's binaries. This script installs them when missing (CI, a fresh machine) and checks them.
#
#   scripts/test-services.sh install   # apt-get install mosquitto nginx-light if missing
#   scripts/test-services.sh check     # exit 1 with a message if a binary is missing
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mosquitto || need+=(mosquitto)
have nginx || need+=(nginx-light)

case "${1:-check}" in
  install)
    if [ "${#need[@]}" -gt 0 ]; then
      echo "installing: ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
    # Debian's packages may start system services; the tests need none of them.
    for s in mosquitto nginx; do
      if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
        systemctl stop "$s" || true
      fi
    done
    echo "mosquitto: $(command -v mosquitto || echo /usr/sbin/mosquitto)"
    echo "nginx: $(command -v nginx || echo /usr/sbin/nginx)"
    ;;
  check)
    if [ "${#need[@]}" -gt 0 ]; then
      echo "missing: ${need[*]} (run: scripts/test-services.sh install, or apt-get install -y ${need[*]})" >&2
      exit 1
    fi
    echo "mosquitto and nginx present"
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
