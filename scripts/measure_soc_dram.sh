#!/usr/bin/env bash
# The DRAM path in the simulated SoC (issue 13, must-hold 2): the SoC with Ethernet and SDRAM
# (LiteDRAM on an MT48LC16M16 chip model) and a core sized for the model with external weights
# (--port sim-dram). The host writes the weights into the SDRAM over guarded Etherbone; before
# each layer the core's WeightStager copies that layer's weights from the SDRAM through LiteDRAM
# into its block RAM; every layer of every image is compared with the reference (--check).
# Needs root (the simulation's network namespace). Writes models/*/measurements/
# eval-soc-dram-check-*.json and the console log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
DATA="${CATSNN_DATA:-../shared/data}"
run() {   # model, images, output stem
    .venv/bin/catsnn eval "$1" --backend device --port sim-dram --check --limit "$2" \
        --data "$DATA" --json > "$3.json" 2> >(tee "$3.log" >&2)
    cat "$3.json"
}
run models/compact-cifar10.catsnn 10 models/compact-cifar10/measurements/eval-soc-dram-check-10
run models/vgg16-cifar10.catsnn.xz 2 models/vgg16-cifar10/measurements/eval-soc-dram-check-2
