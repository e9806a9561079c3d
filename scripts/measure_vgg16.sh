#!/usr/bin/env bash
# Re-measure the figures the README states for the shipped VGG-16 (trained on a lent GPU,
# docs/training.md): SNN accuracy on all 10,000 test images, the lossless-conversion check on the
# first 1,000 (the float64 ANN runs at 15-25 images/s here; all 10,000, 0 mismatches, are in
# measurements/eval-ann-check.json: drop --limit for that), and the energy estimate. About
# 4 minutes on 2 cores.
# The artifact is stored xz-compressed; the loader reads .catsnn.xz directly.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CATSNN_DATA:-../shared/data}"
M=models/vgg16-cifar10.catsnn.xz
OUT=models/vgg16-cifar10/measurements
mkdir -p "$OUT"
.venv/bin/catsnn info "$M" | tee "$OUT/info.txt"
.venv/bin/catsnn eval "$M" --backend reference --data "$DATA" --json | tee "$OUT/eval-reference.json"
.venv/bin/catsnn eval "$M" --backend ann --check --limit 1000 --data "$DATA" --json | tee "$OUT/eval-ann-check-1000.json"
.venv/bin/catsnn energy "$M" --data "$DATA" --limit 100 --json | tee "$OUT/energy.json"
