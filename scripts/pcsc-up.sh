#!/usr/bin/env bash
# Bring up the PC/SC stack that `ykt card insert` and the pcsc test suite need, idempotently:
#   1. the Debian packages (pcscd, the vpcd virtual reader, pyscard's build needs, tools),
#      installed with apt when missing (root, or sudo);
#   2. pyscard in the project's venv, at the version pinned in pyproject.toml (extra `pcsc`),
#      and the outside EMV client (`emvtool` of the PyPI package `emv`, pinned in pyproject's
#      [tool.yikatong.reader-tools]) in its own venv .venv-emvtool: its exact pins
#      (pyscard==2.0.0, click==7.1.2) cannot share the project's venv;
#   3. pcscd running (without systemd: started as a daemon);
#   4. a wait until pcscd lists vpcd's reader "Virtual PCD 00 00".
# Usage: scripts/pcsc-up.sh [--no-install]   (--no-install: only start and wait)
# Exit status 0 when the vpcd reader is listed, non-zero with a message otherwise.
set -euo pipefail

PACKAGES=(pcscd vsmartcard-vpcd swig libpcsclite-dev pcsc-tools opensc)
READER="Virtual PCD 00 00"
WAIT_SECONDS=${PCSC_UP_WAIT_SECONDS:-20}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_PYTHON=${VENV_PYTHON:-$ROOT/.venv/bin/python}
INSTALL=1
[[ "${1:-}" == "--no-install" ]] && INSTALL=0

say() { printf 'pcsc-up: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else say "need root (or sudo) to run: $*"; exit 1
    fi
}

missing_packages() {
    local package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || printf '%s\n' "$package"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) && return
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # No recommends: pcsc-tools would pull in GTK for its GUI tool.
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_pyscard() {
    [[ -x "$VENV_PYTHON" ]] || { say "no venv at $VENV_PYTHON; skipping pyscard"; return; }
    "$VENV_PYTHON" -c 'import smartcard' 2>/dev/null && return
    local requirement
    requirement=$("$VENV_PYTHON" - "$ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]["pcsc"]
print(next(r for r in extras if r.lower().startswith("pyscard")))
EOF
)
    say "installing $requirement into the venv"
    "$VENV_PYTHON" -m pip install -q "$requirement"
}

pinned_tool() {
    "$VENV_PYTHON" - "$ROOT/pyproject.toml" "$1" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["tool"]["yikatong"]["reader-tools"][sys.argv[2]])
EOF
}

install_emvtool() {
    [[ -x "$VENV_PYTHON" ]] || { say "no venv at $VENV_PYTHON; skipping emvtool"; return; }
    local requirement tool_venv=$ROOT/.venv-emvtool
    requirement=$(pinned_tool emv)
    if [[ -x $tool_venv/bin/emvtool ]] \
        && [[ "emv==$("$tool_venv/bin/emvtool" version 2>/dev/null)" == "$requirement" ]]; then
        return
    fi
    say "installing $requirement into $tool_venv (builds pyscard: needs swig, libpcsclite-dev)"
    rm -rf "$tool_venv"
    # The venv's own interpreter resolved, so the tool's venv does not depend on the project's.
    "$(readlink -f "$VENV_PYTHON")" -m venv "$tool_venv"
    "$tool_venv/bin/python" -m pip install -q "$requirement"
}

list_readers() { timeout 5 pcsc_scan -r 2>/dev/null || true; }

pcscd_running() { pidof pcscd >/dev/null 2>&1; }

start_pcscd() {
    if pcscd_running; then return; fi
    say "starting pcscd"
    # pcscd daemonises itself; under systemd the socket unit would start it on demand.
    as_root pcscd
}

wait_for_reader() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until list_readers | grep -qF "$READER"; do
        if ((SECONDS >= deadline)); then return 1; fi
        sleep 0.5
    done
}

if ((INSTALL)); then
    install_packages
    install_pyscard
    install_emvtool
fi
for tool in pcscd pcsc_scan; do
    command -v "$tool" >/dev/null || { say "$tool is missing; run without --no-install"; exit 1; }
done
[[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ]] \
    || { say "the vpcd driver is missing (package vsmartcard-vpcd)"; exit 1; }

start_pcscd
if ! wait_for_reader; then
    # A pcscd started before vsmartcard-vpcd was installed never loaded its driver.
    say "pcscd does not list '$READER'; restarting it to load the vpcd driver"
    pid=$(cat /run/pcscd/pcscd.pid 2>/dev/null || pidof -s pcscd || true)
    [[ -n "$pid" ]] && as_root kill "$pid"
    for _ in $(seq 50); do pcscd_running || break; sleep 0.1; done
    start_pcscd
    wait_for_reader || { say "'$READER' did not appear within ${WAIT_SECONDS}s"; exit 1; }
fi
say "ready: $(list_readers | grep -F "$READER" | sed 's/^[0-9]*: //')" \
    "(vpcd port $(grep -hoiE '0x[0-9a-f]+' /etc/reader.conf.d/vpcd | head -1 | xargs printf '%d'))"
