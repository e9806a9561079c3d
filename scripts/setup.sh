#!/usr/bin/env bash
# Set up everything catsnn needs on Debian 12, idempotently: Debian packages (apt), then a venv
# in .venv with the pinned Python packages of requirements.lock and catsnn itself (editable).
# Re-running is cheap: nothing is reinstalled unless pyproject.toml or the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# verilator, g++, make: the Verilator models (core and SoC); libevent, json-c, zlib: the LiteX
# simulation; the RISC-V GCC, meson, ninja: the firmware and the libraries LiteX builds for it
APT_PACKAGES=(verilator g++ make libevent-dev libjson-c-dev zlib1g-dev gcc-riscv64-unknown-elf meson ninja-build iproute2)
# a Python that already has venv + pip (pyenv, a container image) needs no Debian Python
python3 -c "import venv, ensurepip" 2>/dev/null || APT_PACKAGES+=(python3 python3-venv python3-pip)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the tools' own output goes to this log; the console gets one line per step
mkdir -p build
LOG=build/setup.log
run_logged() {
  if ! "$@" >> "$LOG" 2>&1; then
    echo "setup: failed: $* (last lines of $LOG:)" >&2
    tail -n 15 "$LOG" >&2
    exit 1
  fi
}
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]} (log: $LOG)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  run_logged $SUDO apt-get update -qq
  run_logged env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

stamp=.venv/.catsnn-setup
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: creating .venv and installing pinned packages (torch CPU wheel, ~1 minute; log: $LOG)"
[ -x .venv/bin/python ] || run_logged python3 -m venv .venv
run_logged .venv/bin/python -m pip install -q -r requirements.lock
run_logged .venv/bin/python -m pip install -q -c requirements.lock -e '.[test]'
echo "$want" > "$stamp"
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
