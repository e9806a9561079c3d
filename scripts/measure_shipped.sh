#!/usr/bin/env bash
# Re-measure every figure the README states for the shipped compact model (about 10 minutes on
# 2 cores): SNN accuracy on all 10,000 test images, the lossless-conversion check, the energy
# estimate, and the reference speed. Writes models/compact-cifar10/measurements/*.json|txt|png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
DATA="${CATSNN_DATA:-../shared/data}"
M=models/compact-cifar10.catsnn
OUT=models/compact-cifar10/measurements
mkdir -p "$OUT"
.venv/bin/catsnn info "$M" | tee "$OUT/info.txt"
.venv/bin/catsnn eval "$M" --backend reference --data "$DATA" --json | tee "$OUT/eval-reference.json"
.venv/bin/catsnn eval "$M" --backend ann --check --data "$DATA" --json | tee "$OUT/eval-ann-check.json"
.venv/bin/catsnn energy "$M" --data "$DATA" --limit 100 --json --plot "$OUT/energy.png" | tee "$OUT/energy.json"
.venv/bin/python benchmarks/reference_speed.py --images 1000 | tee "$OUT/reference-speed.txt"
# the gateware: the core under Verilator on 200 images, every layer compared with the reference
.venv/bin/catsnn eval "$M" --backend core --check --limit 200 --data "$DATA" --json --quiet | tee "$OUT/eval-core-check-200.json"
# the energy estimate again with PEs that accumulate in registers (no membrane SRAM access per SOP)
T=$(mktemp --suffix=.json)
.venv/bin/python -c "import json,sys; t=json.load(open('host/energy_tables/horowitz45.json')); t['membrane_rmw_per_sop']['value']=0; json.dump(t, open(sys.argv[1],'w'))" "$T"
.venv/bin/catsnn energy "$M" --data "$DATA" --limit 100 --table "$T" --json | tee "$OUT/energy-register-pes.json"
rm -f "$T"
