#!/usr/bin/env bash
# The core against the reference on every CIFAR-10 test image, every layer (catsnn eval
# --backend core --check), in chunks of CHUNK images with JOBS simulations side by side.
# Resumable: each finished chunk is one JSON line in the log; a rerun skips the chunks already
# there. At the end the chunks are summed into SUMMARY.
#   scripts/check_all.sh [MODEL] [DATA]        (CHUNK=500 JOBS=2 PE=16 LOG=... SUMMARY=...)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-models/compact-cifar10.catsnn}"
DATA="${2:-${CATSNN_DATA:-../shared/data}}"
CHUNK="${CHUNK:-500}"; JOBS="${JOBS:-2}"; PE="${PE:-16}"; TOTAL="${TOTAL:-10000}"
OUT="$(dirname "$MODEL")/$(basename "$MODEL" | sed 's/\.catsnn.*//')/measurements"
LOG="${LOG:-$OUT/core-check-all.jsonl}"
SUMMARY="${SUMMARY:-$OUT/core-check-all.json}"
mkdir -p "$(dirname "$LOG")"
touch "$LOG"
CATSNN=.venv/bin/catsnn; [ -x "$CATSNN" ] || CATSNN=catsnn
t0=$(date +%s)
for ((off = 0; off < TOTAL; off += CHUNK)); do
  n=$(( TOTAL - off < CHUNK ? TOTAL - off : CHUNK ))
  if grep -q "\"offset\": $off," "$LOG"; then continue; fi
  echo "check_all: images $off..$((off + n - 1)) ($JOBS jobs, P = $PE)" >&2
  c0=$(date +%s)
  line=$("$CATSNN" eval "$MODEL" --backend core --pe "$PE" --jobs "$JOBS" --data "$DATA" \
         --offset "$off" --limit "$n" --check --json --quiet) || {
    echo "check_all: chunk at $off failed: $line" >&2; exit 1; }
  # the chunk's wall time (start-up included) goes into its line
  echo "$line" | python3 -c 'import json, sys; r = json.load(sys.stdin); r["wall_s"] = int(sys.argv[1]); print(json.dumps(r)); print("check_all: %d mismatches, %.2f images/s" % (r["mismatches"], r["images"] / max(1, r["wall_s"])), file=sys.stderr)' "$(( $(date +%s) - c0 ))" >> "$LOG"
done
python3 - "$LOG" "$SUMMARY" "$TOTAL" "$(( $(date +%s) - t0 ))" <<'PY'
import json, sys
log, summary, total, wall = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = sorted((json.loads(l) for l in open(log) if l.strip()), key=lambda r: r["offset"])
images = sum(r["images"] for r in rows)
out = {"model": rows[0]["model"], "backend": "core", "pe": rows[0]["pe"], "images": images,
       "complete": images == total, "correct": sum(r["correct"] for r in rows),
       "mismatches": sum(r["mismatches"] for r in rows),
       "first_mismatch": next((r["first_mismatch"] for r in rows if r["mismatches"]), None),
       "cycles_per_image": sum(r["cycles_per_image"] * r["images"] for r in rows) / images,
       "sops_per_image": sum(r["sops_per_image"] * r["images"] for r in rows) / images,
       "wall_s": sum(r.get("wall_s", 0) for r in rows),
       "chunks": len(rows), "this_run_wall_s": wall}
out["top1"] = out["correct"] / images
json.dump(out, open(summary, "w"), indent=1)
print(json.dumps(out))
PY
