#!/usr/bin/env bash
# The main job on the default target (no board needed): set up (if needed), build (cached) and
# start the simulated SoC (VexRiscv + the log-TTFS core, Verilator), load the shipped compact
# model over its UART, run a handful of CIFAR-10 test images with --check (every layer compared
# with the reference model, bit for bit), print one row per image and the totals, stop the
# simulation. IMAGES (default 8) sets how many; extra arguments go to `catsnn eval`.
# Data: $CATSNN_DATA, else ../shared/data (a folder holding cifar-10-batches-py/).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
DATA="${CATSNN_DATA:-../shared/data}"
exec .venv/bin/catsnn eval models/compact-cifar10.catsnn --backend soc --port sim \
  --data "$DATA" --limit "${IMAGES:-8}" --check --table "$@"
