#!/usr/bin/env bash
# The DRAM path (issue 13) on the Verilator core: weights in an external memory model with 4 wait
# states per read, each layer staged into block RAM before it runs (--port core-dram), every
# layer compared with the reference; then the Colorlight i5's core. About 4 minutes on 2 cores. Writes
# models/*/measurements/eval-core-dram-check-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
DATA="${CATSNN_DATA:-../shared/data}"
.venv/bin/catsnn eval models/compact-cifar10.catsnn --backend device --port core-dram --check \
    --limit 50 --jobs 2 --data "$DATA" --json --quiet \
    | tee models/compact-cifar10/measurements/eval-core-dram-check-50.json
.venv/bin/catsnn eval models/vgg16-cifar10.catsnn.xz --backend device --port core-dram --check \
    --limit 5 --jobs 2 --data "$DATA" --json --quiet \
    | tee models/vgg16-cifar10/measurements/eval-core-dram-check-5.json
# the Colorlight i5's --dram core (P = 2, 2,048-word staging, the fc layer in tiles)
.venv/bin/catsnn eval models/compact-cifar10.catsnn --backend core --port core-dram:colorlight_i5 \
    --check --limit 50 --jobs 2 --data "$DATA" --json --quiet \
    | tee models/compact-cifar10/measurements/eval-core-dram-i5-check-50.json
