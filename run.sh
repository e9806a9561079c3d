#!/usr/bin/env bash
# The main job: set up (if needed), then evaluate the shipped compact model with the reference
# SNN on the CIFAR-10 test images and print its accuracy.
# Data: $CATSNN_DATA, else ../shared/data (a folder holding cifar-10-batches-py/).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
DATA="${CATSNN_DATA:-../shared/data}"
exec .venv/bin/catsnn eval models/compact-cifar10.catsnn --backend reference --data "$DATA" "$@"
