#!/usr/bin/env bash
# The tests: set up (if needed), then run the whole pytest suite.
# Data: $CATSNN_DATA, else ../shared/data.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export CATSNN_DATA="${CATSNN_DATA:-$(cd .. && pwd)/shared/data}"
exec .venv/bin/python -m pytest -q --durations=25 "$@"
