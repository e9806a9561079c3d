#!/usr/bin/env bash
# One lent-GPU session of training (run on the device machine, from the repository root):
#   scripts/gpu/train_session.sh SECONDS
# SECONDS is the wall time the whole command may take. Needs, carried beside the tree:
#   .gpu/cifar/        scripts/gpu/pack_cifar.py pack output (JPEG q95 mosaics, see there)
#   .gpu/teacher.pt    the float compact network (runs/compact-float/final.pt) to distil from
# Runs side by side on the one GPU, each with --time-budget so that all end in time:
#   compact-cat-a   CAT, distilled (0.5) from the teacher: the docs' recipe, longer
#   compact-cat-b   the same with distillation weight 0.9
#   compact-float   the float ReLU baseline, same time budget
#   vgg16-cat       CAT VGG-16 (no teacher)
# TRAIN_EXTRA (env) is appended to each training command (local dry runs: --subset N).
# A smoke pass (2 steps of each, exported) runs first and stops the session if anything fails.
# Results land in $OUT: one .tar.gz per run (final.pt, model.catsnn, logs; last.pt if it was
# stopped), the VGG-16 artifact on its own (15 MB), and session.log.
set -u
TOTAL=${1:?usage: train_session.sh SECONDS}
T0=$(date +%s)
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
export PYTHONUNBUFFERED=1

say "session: ${TOTAL} s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
PY=${PY:-python3}
$PY -c "import torch, numpy, PIL; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU', 'numpy', numpy.__version__)" || exit 3

# the package: the folders mapped under catsnn (what pyproject does on install)
PKG=/tmp/pkg; rm -rf $PKG; mkdir -p $PKG/catsnn
cp -r catsnn/. $PKG/catsnn/
for d in training reference host gateware boards; do ln -s "$PWD/$d" "$PKG/catsnn/$d"; done
# PYTHONSAFEPATH: python -m must not put the checkout first (its catsnn/ has no training/)
export PYTHONPATH=$PKG PYTHONSAFEPATH=1
$PY scripts/gpu/pack_cifar.py unpack .gpu/cifar /tmp/data || exit 3
DATA=/tmp/data

# concurrent kernels from the four processes (launch-bound small nets beside VGG-16)
MPS=0
if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d; then
    MPS=1; say "MPS daemon started"
else
    say "no MPS: the processes time-slice the GPU"
fi

declare -A ARGS
ARGS[compact-cat-a]="--arch compact --mode cat --epochs 300 --quant-epochs 100 --batch 128 --teacher .gpu/teacher.pt --distill 0.5"
ARGS[compact-cat-b]="--arch compact --mode cat --epochs 300 --quant-epochs 100 --batch 128 --teacher .gpu/teacher.pt --distill 0.9"
ARGS[compact-float]="--arch compact --mode float --epochs 300 --quant-epochs 100 --batch 128"
# phase 2 at --quant-lr 0.01 collapsed VGG-16 to chance in its first epoch (session 3's first
# run: 80.6 % right after folding, 10 % after); 0.001 for the deep net
ARGS[vgg16-cat]="--arch vgg16 --mode cat --epochs 160 --quant-epochs 20 --batch 256 --lr 0.1 --quant-lr 0.001"
RUNS=${RUNS:-vgg16-cat compact-cat-a compact-cat-b compact-float}

smoke() {
    local fail=0 pids=()
    for r in $RUNS; do
        rm -rf /tmp/smoke/$r
        $PY -m catsnn.training.train ${ARGS[$r]} --epochs 1 --quant-epochs 1 --max-steps 2 \
            --subset 1024 --data $DATA --out /tmp/smoke/$r --threads 4 > /tmp/smoke-$r.log 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"  # (a bare wait would also wait for the tee of the log)
    for r in $RUNS; do
        if [ -f /tmp/smoke/$r/final.pt ]; then say "smoke $r ok"
        else say "smoke $r FAILED"; tail -20 /tmp/smoke-$r.log; fail=1; fi
    done
    return $fail
}
say "smoke: 2 steps of each run"
if ! smoke; then
    [ $MPS = 1 ] || { say "smoke failed: stopping"; exit 3; }
    say "smoke failed with MPS: once more without it"
    echo quit | nvidia-cuda-mps-control; sleep 2; MPS=0
    smoke || { say "smoke failed: stopping"; exit 3; }
fi
[ "${SMOKE_ONLY:-0}" = 1 ] && { say "SMOKE_ONLY: end"; exit 0; }

# budgets: everything must be collected 25 s before the end
NOW=$(( $(date +%s) - T0 ))
BUDGET=$(( TOTAL - NOW - 60 ))
say "training: budget ${BUDGET} s per run"
RUNDIR=${RUNDIR:-/tmp/gpu-runs}; mkdir -p $RUNDIR
PIDS=()
for r in $RUNS; do
    timeout -s TERM $(( BUDGET + 25 )) $PY -m catsnn.training.train ${ARGS[$r]} \
        --time-budget $BUDGET --eval-every 10 --data $DATA --out $RUNDIR/$r --threads 4 ${TRAIN_EXTRA:-} \
        > $RUNDIR/$r.stdout 2>&1 &
    PIDS+=($!)
done
running() { for p in "${PIDS[@]}"; do kill -0 $p 2>/dev/null && return 0; done; return 1; }
while running; do
    sleep 20
    for r in $RUNS; do printf '  %-14s %s\n' $r "$(tail -c 300 $RUNDIR/$r/train.log 2>/dev/null | tail -1 | cut -c1-110)"; done
done
wait "${PIDS[@]}"
say "training done"

for r in $RUNS; do
    files=$(cd $RUNDIR/$r && ls final.pt model.catsnn train.log history.jsonl 2>/dev/null)
    [ -f $RUNDIR/$r/final.pt ] || files="$files $(cd $RUNDIR/$r && ls last.pt 2>/dev/null)"
    [ $r = vgg16-cat ] && files=$(echo $files | tr ' ' '\n' | grep -v '\.pt$\|model.catsnn')
    cp $RUNDIR/$r.stdout $RUNDIR/$r/stdout.log
    tar -czf "$OUT/$r.tar.gz" -C $RUNDIR/$r $files stdout.log
done
# VGG-16's phase-1 end (59 MB in float32) comes back as float16 conv/fc weights in <16 MB parts
# (float32 BN), so phase 2 can be rerun elsewhere: cat the parts, then catsnn.training resume
if [ -f $RUNDIR/vgg16-cat/cat_bn-end.pt ]; then
    $PY -c "
import torch, sys
ck = torch.load(sys.argv[1], map_location='cpu', weights_only=False)
ck['model'] = {k: (v.half() if v.ndim > 1 else v) for k, v in ck['model'].items()}
torch.save(ck, sys.argv[2])" $RUNDIR/vgg16-cat/cat_bn-end.pt /tmp/vgg16-cat_bn-end-fp16.pt &&
    split -b 15M -a 1 /tmp/vgg16-cat_bn-end-fp16.pt "$OUT/vgg16-cat_bn-end-fp16.pt.part-"
fi
[ -f $RUNDIR/vgg16-cat/model.catsnn ] && cp $RUNDIR/vgg16-cat/model.catsnn "$OUT/vgg16-cat.catsnn"
ls -la "$OUT"
say "end"
