#!/usr/bin/env bash
# Builds the board firmware (release, stable, targets from rust-toolchain.toml) and prints a
# size table: flash and static RAM of each firmware, and the OTA agent's share of them.
#
#   scripts/build-boards.sh                # build + identity checks + clippy variants + table
#   SKIP_BUILD=1 scripts/build-boards.sh   # table of what is built (whatever variant)
#
# One firmware image serves every device: the thing name, the broker and the TLS credentials
# are provisioned once per device into an identity area of its own (nrf52840-dk: the
# OTA_IDENTITY page; esp32c3: the `otaident` partition) and read at boot; the TLS code is always
# linked. The firmware is built with default features (HTTP) and with throwaway test
# credentials made here with openssl (an EC P-256 root, a device key and certificate signed by
# it, in a temporary directory: never the real ones) in OTA_TLS_*, which build.rs checks and
# turns into identity.bin beside the firmware. Then:
#   - the ELF (all of it, debug info included) must not contain the device key (its DER, or
#     its bare 32-byte scalar), the device certificate or the trust anchor;
#   - identity.bin must follow ota_os_embassy::identity's format (magic, version, length,
#     CRC-32, the five fields: checked here in python3, independently of the Rust encoder) and
#     hold exactly the thing name, broker and DER credentials, and be byte for byte what
#     `ota-sim provision` writes for the same inputs;
#   - clippy (`-D warnings`) passes on default features (with OTA_TLS_*) and on MQTT-only
#     (`--no-default-features`, without them), and a partial TLS configuration fails the build.
#
# Sizes come from the ELF files with llvm-size / llvm-nm of the `llvm-tools` component (no
# cargo tools to install). The agent's share:
#   - static RAM: the statics the OTA code owns (OTA_MEMORY: agent, MQTT, socket, HTTP and TLS
#     buffers; OTA_TASK: the agent, the MQTT session, the platform, the connector, the HTTP
#     runner; the ota_task future; OTA_CHANNELS; OTA_KEYS; OTA_HTTP_NET; OTA_IDENTITY, the
#     ESP32-C3's copy of its identity partition), read from the symbol table;
#   - agent code: the functions of ota-core, ota-os-embassy (but its `tls` module),
#     ota-pal-flash, ota-mqtt-minimq, minimq, sequential-storage, ota-http-reqwless, reqwless
#     and httparse (with fat LTO, code inlined across crates is counted where it lands; what is
#     inlined into the task's poll function, embassy_executor::TaskStorage::poll, is not);
#   - TLS code: what only TLS uses: embedded-tls, ota-os-embassy's `tls` module (connector,
#     chain verifier, X.509 parser), AES-GCM (aes, aes-gcm, ghash, polyval, ctr, cipher, aead,
#     universal-hash), HKDF/HMAC;
#   - P-256/SHA-256 code: p256, ecdsa, elliptic-curve, primeorder, crypto-bigint, sha2, digest,
#     der, sec1, pkcs8, spki, const-oid. The image verifier uses it; with TLS the handshake uses
#     it too (ECDH, signing, key parsing), so it is shown apart, not attributed to either.
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

# Throwaway TLS credentials: an EC P-256 root (the trust anchor, as AmazonRootCA3 is for AWS
# IoT Core), a device key and a certificate the root signed. The nRF52840 build takes the key
# as SEC1, the ESP32-C3 build as PKCS#8 (build.rs accepts both).
make_credentials() {
    local d=$1
    ossl() { openssl "$@" >/dev/null 2>>"$d/openssl.log" || { cat "$d/openssl.log" >&2; return 1; }; }
    ossl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key"
    ossl req -new -x509 -key "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=OTA CI throwaway root"
    ossl ecparam -name prime256v1 -genkey -noout -out "$d/device.key"
    ossl pkcs8 -topk8 -nocrypt -in "$d/device.key" -out "$d/device.pk8"
    ossl req -new -key "$d/device.key" -out "$d/device.csr" -subj "/CN=ota-ci-device"
    ossl x509 -req -in "$d/device.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial 1 \
        -days 2 -out "$d/device.pem"
}

# A host name shaped like an AWS IoT Core ATS endpoint (the TLS server name).
aws_broker=a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com:8883
# The thing name of the test identity.
test_thing=ota-ci-device

# check_identity <elf> <identity.bin> <thing> <broker> <ca.pem> <cert.pem> <key.pem>: the
# credentials are not in the firmware, and the blob is what the device must find in its
# identity area (the format of ota-os-embassy/src/identity.rs, version 1).
check_identity() {
    python3 - "$@" <<'PY'
import base64, re, sys, zlib

elf_path, blob_path, thing, broker, ca, cert, key = sys.argv[1:]

def der(path):
    text = open(path).read()
    blocks = re.findall(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", text, re.S)
    blocks = [b for t, b in blocks if t != "EC PARAMETERS"]
    if len(blocks) != 1:
        sys.exit(f"FAIL: {path}: expected one PEM block, found {len(blocks)}")
    return base64.b64decode("".join(blocks[0].split()))

ca_der, cert_der, key_der = der(ca), der(cert), der(key)
# The P-256 scalar: `INTEGER 1, OCTET STRING (32)` of the SEC1 structure (inside PKCS#8 too).
at = key_der.find(b"\x02\x01\x01\x04\x20")
if at < 0:
    sys.exit(f"FAIL: {key}: no SEC1 private key inside")
scalar = key_der[at + 5 : at + 37]

elf = open(elf_path, "rb").read()
for what, secret in [
    ("the device's private key (DER)", key_der),
    ("the device's private key (bare scalar)", scalar),
    ("the device certificate", cert_der),
    ("the trust anchor", ca_der),
]:
    if secret in elf:
        sys.exit(f"FAIL: {elf_path} contains {what}: credentials must stay out of the image")

blob = open(blob_path, "rb").read()
def bad(msg):
    sys.exit(f"FAIL: {blob_path}: {msg}")
if len(blob) < 22 or blob[:4] != b"OTAI" or blob[4] != 1 or blob[5] != 0:
    bad("no OTAI version 1 header")
total = int.from_bytes(blob[6:8], "little")
if total != len(blob) or total > 4096:
    bad(f"length field {total}, file {len(blob)} bytes (at most 4096)")
if zlib.crc32(blob[: total - 4]) != int.from_bytes(blob[total - 4 : total], "little"):
    bad("CRC-32 mismatch")
lengths = [int.from_bytes(blob[8 + 2 * i : 10 + 2 * i], "little") for i in range(5)]
fields, pos = [], 18
for n in lengths:
    fields.append(blob[pos : pos + n])
    pos += n
if pos != total - 4:
    bad("field lengths do not add up to the blob")
want = [thing.encode(), broker.encode(), ca_der, cert_der, key_der]
names = ["thing name", "endpoint", "trust anchor", "certificate", "key"]
for name, got, exp in zip(names, fields, want):
    if got != exp:
        bad(f"the {name} field is not the expected one")
print(f"   {elf_path}: no credential inside; {blob_path}: {total} bytes, valid")
PY
}

# run_variants <board dir> <key file> <elf>: the release build with test credentials and its
# checks, clippy on the variants, then the partial-configuration refusal.
run_variants() {
    local dir=$1 key=$2 elf=$3
    local tls=(env OTA_TLS_CA="$creds/ca.pem" OTA_TLS_CERT="$creds/device.pem" OTA_TLS_KEY="$key"
        OTA_BROKER="$aws_broker" OTA_THING_NAME="$test_thing")
    local plain=(env -u OTA_TLS_CA -u OTA_TLS_CERT -u OTA_TLS_KEY)
    local lint=(cargo clippy -q --release)
    local blob
    blob="$(dirname "$elf")/identity.bin"
    echo "== $dir: release build; OTA_TLS_* (test credentials for $aws_broker) checked into identity.bin"
    rm -f "$blob"
    (cd "$dir" && "${tls[@]}" cargo build --release)
    echo "== $dir: no credential in the firmware; identity.bin well-formed and as ota-sim provision writes it"
    check_identity "$elf" "$blob" "$test_thing" "$aws_broker" "$creds/ca.pem" "$creds/device.pem" "$key"
    cargo run -q -p ota-sim -- provision --thing "$test_thing" --broker "$aws_broker" \
        --ca "$creds/ca.pem" --cert "$creds/device.pem" --key "$key" --out "$creds/provisioned.bin" >/dev/null
    if ! cmp -s "$blob" "$creds/provisioned.bin"; then
        echo "FAIL: $blob differs from what ota-sim provision writes for the same inputs" >&2
        exit 1
    fi
    echo "== $dir: clippy, default features (OTA_TLS_* set)"
    (cd "$dir" && "${tls[@]}" "${lint[@]}" -- -D warnings)
    echo "== $dir: clippy, --no-default-features (MQTT only; no OTA_TLS_*)"
    (cd "$dir" && "${plain[@]}" "${lint[@]}" --no-default-features -- -D warnings)
    echo "== $dir: a partial TLS configuration (OTA_TLS_CA alone) must fail the build"
    local log="$creds/partial.log"
    if (cd "$dir" && env -u OTA_TLS_CERT -u OTA_TLS_KEY OTA_TLS_CA="$creds/ca.pem" \
        cargo check -q --release >"$log" 2>&1); then
        echo "FAIL: $dir built with OTA_TLS_CA alone" >&2
        exit 1
    fi
    if ! grep -q "configured partially" "$log"; then
        echo "FAIL: $dir refused OTA_TLS_CA alone without saying why:" >&2
        cat "$log" >&2
        exit 1
    fi
}

nrf_app=boards/nrf52840-dk/target/thumbv7em-none-eabihf/release/ota-nrf52840-dk
nrf_bl=boards/nrf52840-dk/target/thumbv7em-none-eabihf/release/ota-nrf52840-bootloader
esp_app=boards/esp32c3/target/riscv32imc-unknown-none-elf/release/ota-esp32c3

# Not --locked: the boards depend on the workspace crates by path, and their lock files follow
# those crates' dependencies (cargo updates only what changed).
if [ -z "${SKIP_BUILD:-}" ]; then
    if ! cargo clippy --version >/dev/null 2>&1; then rustup component add clippy; fi
    creds=$(mktemp -d)
    trap 'rm -rf "$creds"' EXIT
    make_credentials "$creds"
    run_variants boards/nrf52840-dk "$creds/device.key" "$nrf_app"
    run_variants boards/esp32c3 "$creds/device.pk8" "$esp_app"
fi

# sections <elf> <flash-regex> <ram-regex>: "flash ram" in bytes, from llvm-size -A.
sections() {
    "$SIZE" -A "$1" | awk -v f="$2" -v r="$3" '
        NR > 2 && $1 != "Total" {
            if ($1 ~ f) flash += $2
            if ($1 ~ r) ram += $2
        }
        END { printf "%d %d\n", flash, ram }'
}

# The statics the agent owns.
ram_pattern='OTA_MEMORY|OTA_TASK|OTA_CHANNELS|OTA_KEYS|OTA_HTTP_NET|OTA_IDENTITY|ota_task::POOL'

# Rust crates, by role (a symbol belongs to a crate when the crate name is followed by `::`, or
# `..` in the partly demangled names of impls; C symbols of the Wi-Fi blobs never match).
crate() { echo "(^|[^A-Za-z0-9_])($1)(::|[.][.])"; }
tls_re="$(crate 'embedded_tls|aes|aes_gcm|ghash|polyval|ctr|cipher|aead|universal_hash|hkdf|hmac')|ota_os_embassy(::|[.][.])tls(::|[.][.])"
agent_re=$(crate 'ota_core|ota_os_embassy|ota_pal_flash|ota_mqtt_minimq|minimq|sequential_storage|ota_http_reqwless|reqwless|httparse')
crypto_re=$(crate 'p256|ecdsa|elliptic_curve|primeorder|crypto_bigint|sha2|digest|der|sec1|pkcs8|spki|const_oid')

# share <elf>: "agent_code tls_code crypto_code agent_ram" in bytes, from llvm-nm. The first
# pattern that matches a symbol wins: TLS, then agent, then P-256/SHA-256.
share() {
    "$NM" --print-size --size-sort --radix=d --demangle "$1" | awk -v ram_re="$ram_pattern" \
        -v tls_re="$tls_re" -v agent_re="$agent_re" -v crypto_re="$crypto_re" '
        NF >= 4 {
            size = ($2 + 0); kind = $3
            name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
            if (kind ~ /^[tTrR]$/) {
                if (name ~ tls_re) tls += size
                else if (name ~ agent_re) code += size
                else if (name ~ crypto_re) crypto += size
            } else if (kind ~ /^[bBdD]$/) {
                if (name ~ ram_re) ram += size
            }
        }
        END { printf "%d %d %d %d\n", code, tls, crypto, ram }'
}

# variant <elf>: which build it is, from its symbols.
variant() {
    local syms
    syms=$("$NM" --demangle "$1")
    local v=plain
    if grep -q 'embedded_tls' <<<"$syms"; then v=TLS; fi
    if grep -q 'reqwless' <<<"$syms"; then v="$v + HTTP"; else v="$v, MQTT only"; fi
    echo "$v"
}

# Flash = what the image stores (code, read-only data, initial values of .data); static
# RAM = .data + .bss (+ the ESP32-C3's IRAM code), without stack and heap.
read -r nrf_flash nrf_ram < <(sections "$nrf_app" '^\.(vector_table|text|rodata|data)$' '^\.(data|bss|uninit)$')
read -r bl_flash bl_ram < <(sections "$nrf_bl" '^\.(vector_table|text|rodata|data)$' '^\.(data|bss|uninit)$')
read -r esp_flash esp_ram < <(sections "$esp_app" \
    '^\.(trap|rwtext|rwtext\.wifi|data|data\.wifi|flash\.appdesc|rodata|rodata\.wifi|text)$' \
    '^\.(trap|rwtext|rwtext\.wifi|data|data\.wifi|bss|noinit)$')
read -r nrf_code nrf_tls nrf_crypto nrf_agent_ram < <(share "$nrf_app")
read -r esp_code esp_tls esp_crypto esp_agent_ram < <(share "$esp_app")

echo
echo "| firmware | flash | static RAM | agent code | TLS code | P-256/SHA-256 code | agent static RAM |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf "| nrf52840-dk application (%s) | %d | %d | %d | %d | %d | %d |\n" "$(variant "$nrf_app")" \
    "$nrf_flash" "$nrf_ram" "$nrf_code" "$nrf_tls" "$nrf_crypto" "$nrf_agent_ram"
printf "| nrf52840-dk bootloader | %d | %d | - | - | - | - |\n" "$bl_flash" "$bl_ram"
printf "| esp32c3 application (%s) | %d | %d | %d | %d | %d | %d |\n" "$(variant "$esp_app")" \
    "$esp_flash" "$esp_ram" "$esp_code" "$esp_tls" "$esp_crypto" "$esp_agent_ram"
echo
echo "Bytes. Static RAM excludes stacks and the ESP32-C3 Wi-Fi heap (esp-alloc, 80 KiB)."
echo "The agent's static RAM, symbol by symbol (nrf52840-dk):"
"$NM" --print-size --size-sort --radix=d --demangle "$nrf_app" |
    awk -v ram_re="$ram_pattern" '$3 ~ /^[bBdD]$/ && $0 ~ ram_re {
        name = $4; sub(/::h[0-9a-f]+$/, "", name); printf "  %6d  %s\n", ($2 + 0), name }'
