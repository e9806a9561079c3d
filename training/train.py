"""Conversion-aware training (CAT) of a log-TTFS CIFAR network, and its float ReLU baseline.

One readable file. CAT runs in two phases (see docs/training.md for why):

1. ``cat_bn``: conv -> BatchNorm -> log-TTFS activation, float weights, one-cycle schedule.
2. ``folded``: BatchNorm folded into the convs, weights through the 5-bit log quantiser
   (straight-through), cosine decay. This network is exactly the SNN the artifact describes.

``--mode float`` trains the same network as conv -> BN -> ReLU for the same number of epochs.
Checkpoints (``last.pt``) are written every epoch; ``--resume`` continues from one. A log
(``train.log``, ``history.jsonl``) is written next to them. At the end a CAT run exports the
model artifact (``model.catsnn``).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same command trains data-parallel
(DistributedDataParallel: gloo on CPU, NCCL on GPUs, one process per GPU or CPU socket): every
rank draws the same permutation and augments the same global batch of ``--batch`` images, then
trains on its own slice of it; the averaged gradients are those of the whole batch. Rank 0
alone logs, evaluates, writes checkpoints and exports; every rank resumes from the same
``last.pt``. One difference from one process (docs/training.md): BatchNorm's batch statistics
in phase 1 come from each rank's slice.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as Fn

from catsnn.codings import CODINGS, LOG_TTFS, Coding, CodingError
from catsnn.data import download_cifar, load_split
from catsnn.errors import UserError
from catsnn.numerics import weight_exponent_offset
from catsnn.training.cat_layers import log5_values
from catsnn.training.net import ARCHS, CatNet, fold_bn


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="catsnn train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCHS), default="compact")
    p.add_argument("--mode", choices=["cat", "float"], default="cat")
    p.add_argument("--dataset", choices=["cifar10", "cifar100"], default="cifar10")
    p.add_argument("--data", default=None, help="dataset folder (default: $CATSNN_DATA)")
    p.add_argument("--download", action="store_true",
                   help="download the dataset into --data first if it is not there")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log, artifact")
    p.add_argument("--T", type=int, default=8, help="time window (steps) per layer: 4..16 for "
                   "log-TTFS, 1..1024 for the other codings")
    p.add_argument("--coding", choices=list(CODINGS), default=LOG_TTFS,
                   help="neural coding whose CAT activation to train (docs/numerics.md); the "
                        "core runs log-TTFS, the others run in software")
    p.add_argument("--period", type=int, default=8, help="phase coding: steps per period K")
    p.add_argument("--max-burst", type=int, default=3,
                   help="burst coding: B, the threshold doubles at most B times in a row")
    p.add_argument("--init", default=None, metavar="FINAL_PT",
                   help="start phase 1 from these weights (a final.pt of the same --arch, "
                        "e.g. the float ReLU baseline), not from scratch")
    p.add_argument("--epochs", type=int, default=20, help="phase 1 (float weights) epochs")
    p.add_argument("--quant-epochs", type=int, default=10,
                   help="phase 2 (folded, 5-bit log weights) epochs; the float baseline trains "
                        "epochs + quant-epochs epochs")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate of phase 1")
    # 0.001: at 0.01 phase 2 collapsed VGG-16 and the compact net (run F, session 3) and
    # diverged burst coding; every shipped model's phase 2 ran at 0.001 (docs/training.md)
    p.add_argument("--quant-lr", type=float, default=0.001, help="initial learning rate of phase 2")
    p.add_argument("--quant-optimizer", choices=["sgd", "adam"], default="sgd",
                   help="phase 2's optimiser: SGD (Nesterov momentum 0.9) or Adam (AdamW; "
                        "--quant-lr is then Adam's step size, e.g. 1e-4). Without BatchNorm one "
                        "SGD learning rate moves the layers' folded weights by relative steps "
                        "over 200x apart; Adam's per-weight step does not depend on the layer's scale")
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--quant-wd", type=float, default=5e-5)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--eval-every", type=int, default=5, help="test-set evaluation every N epochs")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop each phase after this many steps (smoke tests); 0 = full epochs")
    p.add_argument("--teacher", nargs="+", default=None, metavar="FINAL_PT",
                   help="final.pt of a trained network (e.g. the float baseline) to distil from; "
                        "several: an ensemble, its mean softened class probabilities")
    p.add_argument("--distill", type=float, default=0.5,
                   help="weight of the distillation loss when there is a teacher (--teacher, "
                        "--quant-teacher phase1): 0..1")
    p.add_argument("--distill-temp", type=float, default=4.0, help="distillation temperature")
    p.add_argument("--quant-teacher", choices=["teacher", "phase1"], default="teacher",
                   help="whom phase 2 distils from: the --teacher network, or phase 1's end "
                        "(OUT/cat_bn-end.pt: the same network with BatchNorm and float weights, "
                        "which the quantised network should match)")
    p.add_argument("--firing", choices=["floor", "round"], default="floor",
                   help="firing rule; 'round' only for the comparison in docs/numerics.md "
                        "(the artifact format knows 'floor' only, so it is not exported)")
    # 2: +3.7 points on the short protocol and +2.2 on the full run against 1 (docs/training.md)
    p.add_argument("--ste-upper", type=float, default=2.0,
                   help="the log-TTFS activation's straight-through gradient is 1 on "
                        "0 < x < this (1: clipped ReLU; larger also reaches saturated neurons)")
    p.add_argument("--quantize-first-layer", action="store_true",
                   help="phase 1: the first layer without BatchNorm and with 5-bit log weights "
                        "from the start, as phase 2 has it (--init's BN is folded into it)")
    p.add_argument("--fold-aware", action="store_true",
                   help="phase 1: every weight through the 5-bit log quantiser as folding its "
                        "BatchNorm will make it (q(w * gamma / sigma) / (gamma / sigma)), the FC "
                        "layer's too, so phase 1 trains the network phase 2 starts from")
    p.add_argument("--average-from", type=int, default=0, metavar="EPOCH",
                   help="phase 2: from its epoch EPOCH (1 = the first) on, average the weights "
                        "over every step (SWA); the average is evaluated, checkpointed and "
                        "exported. 0: the last step's weights")
    p.add_argument("--incremental", action="store_true",
                   help="phase 2 by incremental quantisation (INQ): each epoch freezes more of "
                        "each layer's largest weights at their 5-bit log values (1/2, 3/4, 7/8, "
                        "...) while the rest train in float; the rest is quantised at the end")
    p.add_argument("--grid-pull", type=float, default=0.0, metavar="C",
                   help="phase 2: add C/2 * sum (w - q(w))^2 over every layer's weights (q: the "
                        "5-bit log quantiser, no gradient through it), C rising linearly from 0 "
                        "over phase 2, so that each latent weight settles on the power of two it "
                        "rounds to instead of flipping between two (oscillation dampening)")
    p.add_argument("--phase1-from", nargs="+", default=None, metavar="CAT_BN_END_PT",
                   help="skip phase 1: phase 2 starts from the uniform average of these phase-1 "
                        "ends (OUT/cat_bn-end.pt of CAT runs with this --arch, --T, --coding, "
                        "--quantize-first-layer and --fold-aware, e.g. the same command with "
                        "other --seed values: a 'model soup'); one file: phase 2 from that end")
    p.add_argument("--subset", type=int, default=0,
                   help="use only the first N training and test images (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                   help="fit the run into this many seconds: --epochs/--quant-epochs become upper "
                        "bounds and their ratio; each phase's epoch count is set from measured "
                        "epoch times (it grows only in the phase's first fifth)")
    a = p.parse_args(argv)
    try:
        coding_of(a).check_window(a.T)
    except CodingError as e:
        p.error(str(e))
    if a.coding == LOG_TTFS and not 4 <= a.T <= 16:
        p.error("--T must be in 4..16")
    if a.ste_upper <= 0:
        p.error("--ste-upper must be > 0")
    if a.time_budget < 0:
        p.error("--time-budget must be >= 0")
    if a.average_from and (a.mode != "cat" or not 1 <= a.average_from <= a.quant_epochs):
        p.error("--average-from takes a phase-2 epoch of a CAT run: 1..--quant-epochs")
    if a.incremental and (a.mode != "cat" or a.average_from):
        p.error("--incremental is a CAT phase-2 option (--mode cat), without --average-from")
    if a.grid_pull < 0 or (a.grid_pull and (a.mode != "cat" or a.incremental)):
        p.error("--grid-pull takes C >= 0 and is a CAT phase-2 option (--mode cat), without "
                "--incremental")
    if a.fold_aware and a.mode != "cat":
        p.error("--fold-aware is a CAT phase-1 option (--mode cat)")
    if a.quant_teacher == "phase1" and a.mode != "cat":
        p.error("--quant-teacher phase1 is a CAT phase-2 option (--mode cat)")
    if a.phase1_from and (a.mode != "cat" or a.init or a.time_budget):
        p.error("--phase1-from replaces phase 1 of a CAT run (--mode cat): without --init "
                "(the phase-1 ends are the start) and without --time-budget")
    if a.time_budget and a.resume:
        p.error("--resume continues a fixed schedule: pass the --epochs/--quant-epochs that "
                "the time-budgeted run logged, without --time-budget")
    return a


class TimeBudget:
    """Fits each phase's epoch count into a share of a wall-clock budget.

    A GPU lent for a few minutes (and shared between runs) has a speed nobody knows in advance,
    so the schedule is sized from measurement: phase i gets the share epochs_i / sum(epochs) of
    what is left when it starts (minus a reserve for the final evaluation and export); after each
    epoch the count becomes what the measured mean epoch time fits into that share, never more
    than asked for. Past the phase's first fifth it only shrinks, so the decaying part of the
    learning-rate schedule never jumps up.
    """

    def __init__(self, seconds: float, phase_epochs: list[int], reserve: float):
        self.end = time.time() + seconds - reserve
        self.phase_epochs = phase_epochs

    def phase_deadline(self, pi: int) -> float:
        left = sum(self.phase_epochs[pi:])
        share = self.phase_epochs[pi] / left if left else 1.0
        return time.time() + max(0.0, self.end - time.time()) * share

    @staticmethod
    def seconds_per_epoch(epoch_seconds: list[float]) -> float:
        # the first epoch pays for warm-up (CUDA context, cuDNN autotuning): leave it out
        # once there is another to go by
        tail = epoch_seconds[1:] or epoch_seconds
        return sum(tail) / len(tail)

    def fit(self, deadline: float, done: int, epoch_seconds: list[float], planned: int,
            requested: int, first_epoch: int = 0) -> int:
        """The phase's epoch count after `done` epochs: what fits before the deadline, at most
        the requested count; it may grow only in the first fifth of the phase (the warm-up of
        the one-cycle schedule), later it only shrinks."""
        more = int(max(0.0, deadline - time.time()) // max(self.seconds_per_epoch(epoch_seconds),
                                                            1e-6))
        cap = requested if 5 * (done - first_epoch) <= planned - first_epoch else planned
        return max(done, min(cap, done + more))


class WeightAverage:
    """The mean of a network's parameters over the training steps it has seen (stochastic
    weight averaging, Izmailov et al. 2018; SWALP for low-precision training).

    Phase 2 trains latent float weights through a quantiser, and late in training single
    weights still flip between two powers of two from step to step: the last step's network is
    one sample of that noise. The mean over many steps settles them; the quantiser then rounds
    the mean.
    """

    def __init__(self, model: CatNet, state: dict | None = None):
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.updates = state["updates"]

    @torch.no_grad()
    def update(self, model: CatNet):
        self.updates += 1
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p, 1.0 / self.updates)     # the running mean; the first update copies
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}


class IncrementalQuantization:
    """Phase 2 by incremental network quantisation (INQ, Zhou et al. 2017, made for power-of-two
    weights): in each layer (the convs and the FC) the largest weights are quantised to 5-bit
    log values and frozen first, and the rest go on training in float so that they make up for
    the frozen ones' rounding; the frozen fraction grows each epoch, and what is left is
    quantised at the end.

    The per-layer offset k (numerics.weight_exponent_offset) is fixed when phase 2 starts, so a
    frozen code means the same weight until the export, which finds the same k (the largest
    weight, frozen first, is already a power of two and nothing grows past it). Frozen weights
    are written back after every optimiser step: the step (momentum, weight decay) may move
    them, the next forward pass sees them unchanged.
    """

    def __init__(self, model: CatNet, state: dict | None = None):
        layers = self.layers(model)
        if state is not None:
            self.k, self.frozen, self.values = state["k"], state["frozen"], state["values"]
        else:
            self.k = [weight_exponent_offset(l.weight) for l in layers]
            self.frozen = [torch.zeros(l.weight.shape, dtype=torch.bool) for l in layers]
            self.values = [torch.zeros(l.weight.shape) for l in layers]

    @staticmethod
    def layers(model: CatNet) -> list:
        return [*model.convs, model.fc]

    @staticmethod
    def fraction(epoch: int, epochs: int) -> float:
        """Frozen fraction while phase-2 epoch `epoch` (0-based) trains: 1/2, 3/4, 7/8, ...;
        1 after the last."""
        return 1.0 if epoch >= epochs else 1.0 - 0.5 ** (epoch + 1)

    @torch.no_grad()
    def freeze(self, model: CatNet, fraction: float) -> None:
        """Freezes the largest of each layer's still-float weights, at their 5-bit log values,
        until `fraction` of the layer is frozen."""
        for i, layer in enumerate(self.layers(model)):
            w, frozen = layer.weight, self.frozen[i].to(layer.weight.device)
            more = math.ceil(fraction * w.numel()) - int(frozen.sum())
            if more > 0:
                mag = w.detach().abs().masked_fill(frozen, -1.0).flatten()
                pick = torch.topk(mag, more).indices
                frozen = frozen.flatten()
                frozen[pick] = True
                frozen = frozen.view(w.shape)
                values = torch.where(frozen, log5_values(w, self.k[i]),
                                     self.values[i].to(w.device, w.dtype))
                self.frozen[i], self.values[i] = frozen.cpu(), values.cpu()
        self.restore(model)

    @torch.no_grad()
    def restore(self, model: CatNet) -> None:
        for i, layer in enumerate(self.layers(model)):
            w = layer.weight
            w.copy_(torch.where(self.frozen[i].to(w.device), self.values[i].to(w.device, w.dtype),
                                w))

    def state(self) -> dict:
        return {"k": self.k, "frozen": self.frozen, "values": self.values}


class Logger:
    """The run's log; silent on ranks other than 0."""

    def __init__(self, out: Path, active: bool = True):
        self.active = active
        if active:
            self.text = open(out / "train.log", "a")
            self.hist = open(out / "history.jsonl", "a")
        self.tty = active and sys.stderr.isatty()

    def line(self, msg: str):
        if self.active:
            print(msg, file=sys.stderr, flush=True)
            self.text.write(msg + "\n")
            self.text.flush()

    def progress(self, msg: str):
        if self.tty:
            print("\r" + msg, end="", file=sys.stderr, flush=True)

    def record(self, **kw):
        if self.active:
            self.hist.write(json.dumps(kw) + "\n")
            self.hist.flush()


class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    def __init__(self, device_arg: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(device_arg)
        if self.world > 1:
            gpu = self.device.type == "cuda"
            if gpu:
                self.device = torch.device("cuda", self.local)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if gpu else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model):
        """The model as trained: DistributedDataParallel around it under torchrun."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model, device_ids=[self.local]
                                       if self.device.type == "cuda" else None)

    def shard(self, batch: int) -> slice:
        """This rank's slice of a global batch."""
        b = batch // self.world
        return slice(self.rank * b, (self.rank + 1) * b)

    def total(self, *tensors):
        """Sums over the ranks (in place)."""
        if self.world > 1:
            for t in tensors:
                dist.all_reduce(t)
        return tensors

    def agree(self, value):
        """Rank 0's value on every rank (decisions made from timing must be shared)."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            # DistributedDataParallel's reducer sits in a reference cycle and holds the process
            # group: left to the interpreter's teardown, gloo's threads are destroyed unjoined
            # ("terminate called without an active exception", SIGABRT: the CI flake).
            # Collected here, the group is really destroyed below, its threads joined.
            gc.collect()
            dist.destroy_process_group()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding 4) and horizontal flip, on a uint8 batch on any device,
    vectorised; the random numbers come from a CPU generator so runs repeat across devices."""
    n, c, h, w = x.shape
    dev = x.device
    padded = Fn.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen).to(dev)
    dy = torch.randint(0, 9, (n,), generator=gen).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None].expand(n, c, h, w + 8)
    cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :].expand(n, c, h, w)
    # gather rows then columns (two gathers keep it simple and exact)
    out = padded.gather(2, rows).gather(3, cols)
    flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
    out[flip] = out[flip].flip(3)
    return out


def to_input(x_uint8: torch.Tensor, device) -> torch.Tensor:
    """Pixels p -> the fixed-point values p * 2^-8 the first layer sees."""
    return (x_uint8.to(device).float() / 256.0).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def evaluate(model, split, device, batch=500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(split), batch):
        logits = model(to_input(split.images[i:i + batch], device))
        correct += (logits.argmax(1).cpu() == split.labels[i:i + batch]).sum().item()
    return correct / len(split)


@torch.no_grad()
def recalibrate_bn(model, images: torch.Tensor, device, n: int = 10000, batch: int = 500):
    """Re-estimate BatchNorm running statistics on n augmented training images.

    The running averages collected during training lag behind the weights while the learning
    rate is high, and the log-TTFS activation amplifies any shift (docs/training.md has the
    measured effect). The images go through the training augmentation (fixed seed): the layers
    are trained on the statistics of augmented batches. Runs before every test evaluation of a
    BN network and before folding.
    """
    bns = model.batchnorms
    if not bns:
        return
    was_training = model.training
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.train()
    gen = torch.Generator().manual_seed(1234)
    for i in range(0, min(n, len(images)), batch):
        model(to_input(augment(images[i:i + batch], gen), device))
    for bn, m in zip(bns, saved):
        bn.momentum = m
    model.train(was_training)


def lr_at(phase: str, step: int, total: int, a) -> float:
    if phase == "folded":  # cosine decay from quant-lr
        return a.quant_lr * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))
    warm = 0.2 * total  # one-cycle: linear up for 20 %, linear down to 0
    return a.lr * (step / warm if step < warm else max(0.0, (total - step) / (total - warm)))


def make_optimizer(model, phase, a):
    wd = a.quant_wd if phase == "folded" else a.wd
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    if phase == "folded" and a.quant_optimizer == "adam":
        return torch.optim.AdamW(groups, lr=0.0)     # decoupled decay: w -= lr * wd * w
    return torch.optim.SGD(groups, lr=0.0, momentum=0.9, nesterov=True)


def phases(a):
    if a.mode == "float":
        return [("relu", a.epochs + a.quant_epochs)]
    return [("cat_bn", a.epochs), ("folded", a.quant_epochs)]


def coding_of(a) -> Coding:
    return Coding.named(a.coding, a.period, a.max_burst)


def load_init(model: CatNet, path: str) -> None:
    """Phase 1 starts from a trained network's weights (same architecture; its form may be
    float ReLU or CAT with BN: both have the same parameters)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck["form"] not in ("relu", "cat_bn"):
            raise UserError(f"--init {path}: a {ck['form']!r} network; --init takes a float "
                            f"(relu) or CAT phase-1 (cat_bn) final.pt")
        state = dict(ck["model"])
        if model.quantized_first and "bns.0.weight" in state:
            # the source's first BatchNorm goes into the first conv, which has none now
            state["convs.0.weight"], state["convs.0.bias"] = fold_bn(
                state.pop("convs.0.weight"), *(state.pop(f"bns.0.{k}") for k in
                                               ("weight", "bias", "running_mean", "running_var")))
            state.pop("bns.0.num_batches_tracked", None)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise UserError(f"--init {path}: no such file") from None
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"--init {path}: not a final.pt of this --arch ({e})") from None


# the settings that make a checkpoint's network this run's (name, value before the option existed)
NETWORK_SETTINGS = (("arch", None), ("T", None), ("mode", None), ("dataset", None),
               ("coding", LOG_TTFS), ("quantize_first_layer", False), ("fold_aware", False))


def average_phase1_ends(paths: list[str], a) -> dict:
    """The uniform average of phase-1 ends (a "model soup", Wortsman et al. 2022).

    Runs fine-tuned from the same network (--init) with different seeds stay in one basin of
    the loss, so their average is a network too, and a better one than each (docs/training.md,
    run W). Every file must be a phase-1 end of a run with this run's network settings; the
    BatchNorm running statistics are averaged here and re-estimated before folding."""
    states = []
    for path in paths:
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
            form, args, state = ck["form"], ck["args"], ck["model"]
        except FileNotFoundError:
            raise UserError(f"--phase1-from {path}: no such file") from None
        except Exception as e:  # a torch.load of a wrong file raises many kinds
            raise UserError(f"--phase1-from {path}: not a catsnn checkpoint ({e})") from None
        if form != "cat_bn":
            raise UserError(f"--phase1-from {path}: a {form!r} network, not a phase-1 end "
                            f"(OUT/cat_bn-end.pt)")
        for key, before in NETWORK_SETTINGS:
            if args.get(key, before) != getattr(a, key):
                raise UserError(f"--phase1-from {path}: trained with --{key.replace('_', '-')} "
                                f"{args.get(key, before)}, this run has {getattr(a, key)}")
        states.append(state)
    return {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()}


def load_teacher(path, device, option="--teacher"):
    """A trained network from a final.pt, frozen, for knowledge distillation; option: what
    named the file, for the error."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        net = CatNet(ck["args"]["arch"], ck["form"], ck["args"]["T"], ck["model"]["fc.weight"].shape[0],
                     quantized_first=ck["args"].get("quantize_first_layer", False),
                     fold_aware=ck["args"].get("fold_aware", False))
        net.load_state_dict(ck["model"])
    except FileNotFoundError:
        raise UserError(f"{option} {path}: no such file") from None
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"{option} {path}: not a catsnn final.pt ({e})") from None
    net = net.to(device).to(memory_format=torch.channels_last).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def grid_distance(model: CatNet) -> torch.Tensor:
    """(1/2) sum over every layer's weights of (w - q(w))^2, q the 5-bit log quantiser with the
    layer's offset k, without gradient through q: its gradient w - q(w) pulls each latent weight
    toward the power of two it rounds to now (oscillation dampening, Nagel et al. 2022). Late in
    phase 2 weights near a rounding point otherwise flip between two powers of two from step to
    step, and the exported network is one sample of that noise."""
    total = 0.0
    for layer in (*model.convs, model.fc):
        w = layer.weight
        q = log5_values(w, weight_exponent_offset(w)).to(w.dtype)
        total = total + 0.5 * (w - q).pow(2).sum()
    return total


@torch.no_grad()
def distillation_targets(teachers: list, x: torch.Tensor, temp: float) -> torch.Tensor:
    """The teachers' mean class probabilities at temperature temp: an ensemble's soft labels
    (Hinton et al. 2015); with one teacher, its own."""
    return torch.stack([Fn.softmax(t(x) / temp, 1) for t in teachers]).mean(0)


def save(path: Path, **state):
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind


def main(argv=None):
    a = parse_args(argv)
    out = Path(a.out)
    ranks = Ranks(a.device)
    try:
        return train(a, out, ranks)
    finally:
        ranks.close()


def train(a, out: Path, ranks: Ranks) -> int:
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.batch % ranks.world:
        raise UserError(f"--batch {a.batch} is not a multiple of the {ranks.world} ranks")
    log = Logger(out, ranks.main)
    device = ranks.device
    if ranks.world > 1:
        dist.barrier()        # the run folder exists before any rank reads it
    if a.download:
        if not a.data:
            raise UserError("--download needs --data DIR")
        if ranks.main:
            download_cifar(a.data, a.dataset)
        if ranks.world > 1:
            dist.barrier()
    train, test = load_split(a.data, True, a.dataset), load_split(a.data, False, a.dataset)
    if a.subset:
        train, test = (type(sp)(sp.images[:a.subset], sp.labels[:a.subset], sp.classes)
                       for sp in (train, test))
    num_classes = len(train.classes) or int(train.labels.max()) + 1
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    # the training images stay on the device as uint8 (150 MB for CIFAR): no loader, no copies
    train_images, train_labels = train.images.to(device), train.labels.to(device)
    plan = phases(a)
    start_phase, start_epoch, model, opt_state, avg_state = 0, 0, None, None, None
    inq_state = None
    if a.resume and not (out / "last.pt").exists():
        log.line(f"--resume: no {out / 'last.pt'} yet, starting from scratch")
    if a.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", weights_only=False)
        for key, before in NETWORK_SETTINGS:
            if ck["args"].get(key, before) != getattr(a, key):
                raise UserError(f"--resume with --{key.replace('_', '-')} {getattr(a, key)} "
                                 f"but {out / 'last.pt'} was trained with "
                                 f"{ck['args'].get(key, before)}")
        start_phase, start_epoch = ck["phase_index"], ck["epoch"]
        if ck["form"] == "folded" and ck["args"].get("quant_optimizer", "sgd") != a.quant_optimizer:
            raise UserError(f"--resume with --quant-optimizer {a.quant_optimizer} but phase 2 in "
                            f"{out / 'last.pt'} ran with {ck['args'].get('quant_optimizer', 'sgd')}")
        model = CatNet(a.arch, ck["form"], a.T, num_classes, firing=a.firing,
                       ste_upper=a.ste_upper, coding=coding_of(a),
                       quantized_first=a.quantize_first_layer, fold_aware=a.fold_aware)
        model.load_state_dict(ck["model"])
        opt_state = ck["optimizer"]
        avg_state = ck.get("average")
        inq_state = ck.get("incremental")
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        log.line(f"resumed from {out / 'last.pt'}: phase {ck['form']} epoch {start_epoch}")
    else:
        model = CatNet(a.arch, plan[0][0], a.T, num_classes, firing=a.firing,
                       ste_upper=a.ste_upper, coding=coding_of(a),
                       quantized_first=a.quantize_first_layer, fold_aware=a.fold_aware)
        if a.init:
            load_init(model, a.init)
        log.line(f"catsnn train {json.dumps(vars(a))}")
        if a.phase1_from:   # phase 1 is done: its loop below runs no step, saves its end
            model.load_state_dict(average_phase1_ends(a.phase1_from, a))
            start_epoch = plan[0][1]
            recalibrate_bn(model, train_images, device)      # every rank: same result
            if ranks.main:
                log.line(f"phase 1: the average of {len(a.phase1_from)} phase-1 end(s), "
                         f"test top-1 {evaluate(model.to(device), test, device):.4f}")
    nweights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight")
                   and p.ndim > 1)
    log.line(f"{a.arch}: {nweights:,} weights = {nweights * 5:,} bits at 5 bits; "
             f"train {len(train)} test {len(test)} images; device {device}, "
             f"{torch.get_num_threads()} threads" +
             (f"; {ranks.world} ranks, {a.batch // ranks.world} images each per step"
              if ranks.world > 1 else ""))

    # an ensemble of one or more networks; distillation targets their mean soft probabilities
    teachers = [load_teacher(t, device) for t in a.teacher] if a.teacher else []
    steps_per_epoch = len(train) // a.batch
    if steps_per_epoch == 0:
        raise UserError(f"{len(train)} training images < batch {a.batch}")
    budget = None
    if a.time_budget:
        # the reserve covers the last BN re-estimate, the final evaluation and the export
        budget = TimeBudget(a.time_budget, [e for _, e in plan],
                            reserve=min(60.0, 0.05 * a.time_budget))
    for pi in range(start_phase, len(plan)):
        form, epochs = plan[pi]
        deadline = budget.phase_deadline(pi) if budget else None
        if model.form != form:  # entering phase 2: fold BatchNorm into the convs
            recalibrate_bn(model.to(device), train_images, device)
            model = model.folded()
            if ranks.main:
                log.line(f"phase 2: BatchNorm folded, 5-bit log weights; test top-1 right "
                         f"after folding+quantising: {evaluate(model.to(device), test, device):.4f}")
        if form == "folded" and a.quant_teacher == "phase1":
            if ranks.world > 1:
                dist.barrier()    # rank 0 has written phase 1's end
            teachers = [load_teacher(out / "cat_bn-end.pt", device, "--quant-teacher phase1:")]
            if ranks.main:
                log.line(f"phase 2 distils from phase 1's end ({out / 'cat_bn-end.pt'})")
        model = model.to(device).to(memory_format=torch.channels_last)
        trained = ranks.wrap(model)
        opt = make_optimizer(model, form, a)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
            opt_state = None
        # phase 2's weight average (--average-from): evaluated, checkpointed and exported
        avg = WeightAverage(model, avg_state) if a.average_from and form == "folded" else None
        avg_state = None
        # --incremental: the weights the model computes with are its own (frozen ones exact)
        inq = IncrementalQuantization(model, inq_state) if a.incremental and form == "folded" \
            else None
        inq_state = None
        if inq:
            model.quantize_weights = False
            if ranks.main:
                log.line("phase 2 quantises incrementally: each epoch freezes more of each "
                         "layer's largest weights (1/2, 3/4, 7/8, ...), the rest at the end")
        total = epochs * steps_per_epoch
        first_epoch = start_epoch if pi == start_phase else 0
        epoch, epoch_seconds = first_epoch, []
        while epoch < epochs:
            model.train()
            if inq:
                inq.freeze(model, inq.fraction(epoch, epochs))
            perm = torch.randperm(len(train), generator=gen)
            t0, seen = time.time(), 0
            # sums stay on the device: a .item() per step would stall a GPU every step
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            for s in range(steps_per_epoch):
                if a.max_steps and s >= a.max_steps:
                    break
                step = epoch * steps_per_epoch + s
                for g in opt.param_groups:
                    g["lr"] = lr_at(form, step, total, a)
                idx = perm[s * a.batch:(s + 1) * a.batch].to(device)
                # every rank augments the whole batch (the generator stays in step), then
                # takes its slice
                mine = ranks.shard(len(idx))
                x = to_input(augment(train_images[idx], gen)[mine], device)
                y = train_labels[idx][mine]
                logits = trained(x)
                loss = Fn.cross_entropy(logits, y, label_smoothing=a.label_smoothing)
                if teachers:
                    soft = distillation_targets(teachers, x, a.distill_temp)
                    kd = Fn.kl_div(Fn.log_softmax(logits / a.distill_temp, 1), soft,
                                   reduction="batchmean") * a.distill_temp ** 2
                    loss = (1 - a.distill) * loss + a.distill * kd
                objective = loss     # what is logged: the task loss, comparable across runs
                if a.grid_pull and form == "folded":
                    objective = loss + a.grid_pull * (step + 1) / total * grid_distance(model)
                opt.zero_grad(set_to_none=True)
                objective.backward()
                opt.step()
                if inq:
                    inq.restore(model)
                if avg and epoch + 1 >= a.average_from:
                    avg.update(model)
                seen += len(idx)
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == y).sum()
                if log.tty and (s % 10 == 0 or s == steps_per_epoch - 1):
                    el = time.time() - t0
                    log.progress(f"[{form} {epoch + 1}/{epochs}] {s + 1}/{steps_per_epoch} "
                                 f"loss {loss_sum.item() / seen:.3f} "
                                 f"acc {correct.item() / seen:.3f} {seen / el:.0f} img/s")
            if log.tty:
                print(file=sys.stderr)
            el = time.time() - t0
            seen_t = torch.tensor(float(seen), device=device)
            ranks.total(loss_sum, correct, seen_t)
            seen = seen_t.item()
            rec = dict(phase=form, epoch=epoch + 1, train_loss=loss_sum.item() / seen,
                       train_acc=correct.item() / seen, seconds=round(el, 1),
                       lr=opt.param_groups[0]["lr"])
            if inq:    # test_acc below: this network, its unfrozen weights still float
                rec["frozen"] = inq.fraction(epoch, epochs)
            if (epoch + 1) % a.eval_every == 0 or epoch + 1 == epochs:
                recalibrate_bn(model, train_images, device)      # every rank: same result
                if ranks.main:
                    rec["test_acc"] = evaluate(avg.model if avg and avg.updates else model,
                                               test, device)
                    if avg and avg.updates:  # the last step's network, for comparison
                        rec["test_acc_last_step"] = evaluate(model, test, device)
            log.record(**rec)
            log.line(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in rec.items()))
            if ranks.main:
                save(out / "last.pt", form=form, phase_index=pi, epoch=epoch + 1,
                     model=model.state_dict(), optimizer=opt.state_dict(), args=vars(a),
                     generator=gen.get_state(), torch_rng=torch.get_rng_state(),
                     average=avg.state() if avg else None,
                     incremental=inq.state() if inq else None)
            epoch += 1
            epoch_seconds.append(time.time() - t0)
            if budget and epoch < epochs:
                fitted = ranks.agree(budget.fit(deadline, epoch, epoch_seconds, epochs,
                                                plan[pi][1], first_epoch))
                if fitted != epochs:
                    log.line(f"time budget: phase {form} now {fitted} epochs (was {epochs}), "
                             f"{budget.seconds_per_epoch(epoch_seconds):.1f} s per epoch")
                    epochs, total = fitted, fitted * steps_per_epoch
                    if a.mode == "float":  # the one phase trains epochs + quant_epochs
                        a.epochs, a.quant_epochs = epochs, 0
                    elif pi == 0:
                        a.epochs = epochs
                    else:
                        a.quant_epochs = epochs
        if avg and avg.updates:  # from here on the average is the phase's result
            model = avg.model
        if inq:                  # the last of the float weights: now all are 5-bit log
            inq.freeze(model, 1.0)
            model.quantize_weights = True
        # a copy of the phase's end lets a later phase be rerun with other settings
        if ranks.main:
            save(out / f"{form}-end.pt", form=form, phase_index=pi, epoch=epochs,
                 model=model.state_dict(), optimizer=None, args=vars(a),
                 generator=gen.get_state(), torch_rng=torch.get_rng_state())
        start_epoch = 0

    recalibrate_bn(model, train_images, device)
    if not ranks.main:
        return 0
    final_acc = evaluate(model, test, device)  # on the device: a CPU pass over VGG-16 is slow
    model = model.cpu()
    save(out / "final.pt", form=model.form, model=model.state_dict(), args=vars(a),
         classes=train.classes)
    log.line(f"final test top-1 ({model.form}, float32): {final_acc:.4f}")
    if a.mode == "cat" and a.firing == "floor":
        from catsnn.training.export import export_model
        path = export_model(model, out / "model.catsnn", classes=train.classes,
                            meta={"train_args": vars(a), "dataset": a.dataset})
        log.line(f"exported {path}")
    return 0


if __name__ == "__main__":
    from catsnn.cli import main as cli_main  # the same one-line errors as `catsnn train`
    sys.exit(cli_main(["train", *sys.argv[1:]]))
