"""`catsnn eval`: one evaluation command for every backend, with a bit-exact check.

A backend turns a batch of uint8 images into a ``BackendOutput``: every firing layer's spike
times (uint8, after pooling) and the last layer's potentials (int64, units of 2^-F). ``--check``
runs the reference model on the same images and compares every layer, image by image.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import torch

from catsnn.artifact import ModelArtifact
from catsnn.numerics import spike_time_from_value
from catsnn.reference.snn import ReferenceSNN


@dataclass
class BackendOutput:
    spike_times: list                 # per firing layer, uint8 (N, C, H, W)
    potentials: torch.Tensor          # int64 (N, classes)
    sops: torch.Tensor | None = None  # int64 (N, layers), where the backend counts them
    notes: list = field(default_factory=list)  # per-batch remarks that make images mismatch
    bad_images: torch.Tensor | None = None     # bool (N,): images the backend itself flags
    cycles: torch.Tensor | None = None         # int64 (N,): hardware cycles per image

    @property
    def predictions(self):
        return self.potentials.argmax(1)


class ReferenceBackend:
    name = "reference"

    def __init__(self, art: ModelArtifact):
        self.snn = ReferenceSNN(art)

    def run(self, pixels):
        r = self.snn.run(pixels)
        return BackendOutput(r.spike_times, r.potentials, r.sops)


class AnnBackend:
    """The CAT-trained network in PyTorch, exact mode: float64, weights from the artifact."""
    name = "ann"

    def __init__(self, art: ModelArtifact):
        from catsnn.training.export import ann_from_artifact
        self.art = art
        self.net = ann_from_artifact(art, torch.float64)

    @torch.no_grad()
    def run(self, pixels):
        logits, acts = self.net(pixels.double() / 256.0, return_potentials_per_layer=True)
        times = [spike_time_from_value(a, self.art.T).to(torch.uint8) for a in acts]
        scaled = logits * 2.0 ** self.art.frac_bits
        rounded = scaled.round()
        bad = (scaled != rounded).any(1)  # a potential off the 2^-F grid cannot equal the SNN
        out = BackendOutput(times, rounded.to(torch.int64), bad_images=bad)
        if bad.any():
            out.notes.append(f"{int(bad.sum())} images with potentials off the 2^-F grid")
        return out


class CoreBackend:
    """The log-TTFS core (gateware/log_ttfs_core.py) simulated by Verilator, one image at a
    time. With --check it runs in step mode and reads every layer's spike map back."""
    name = "core"
    batch = 10

    def __init__(self, art: ModelArtifact, pe: int = 16, check: bool = False):
        from catsnn.gateware.core_config import CoreConfig, DoesNotFit, plan_model
        from catsnn.gateware.verilator_core import CoreSim
        cfg = CoreConfig.for_arch("compact", pe)
        try:
            plan_model(art, cfg)
        except DoesNotFit as e:
            raise DoesNotFit(f"{e} (the simulated core is sized for the compact model)") from None
        self.sim = CoreSim(cfg)
        self.sim.load_model(art)
        self.art, self.pe, self.with_maps = art, pe, check
        self.info = {"pe": pe}

    def run(self, pixels):
        maps, pots, sops, cycles = [], [], [], []
        for img in pixels:
            r = self.sim.run_image(img, with_maps=self.with_maps)
            maps.append(r.spike_times)
            pots.append(r.potentials)
            sops.append(r.counters["sops"])
            cycles.append(r.cycles)
        times = [torch.stack(per_layer) for per_layer in zip(*maps)] if self.with_maps else []
        return BackendOutput(times, torch.stack(pots), torch.tensor(sops, dtype=torch.int64),
                             cycles=torch.tensor(cycles, dtype=torch.int64))


def _soc_backend(art, check, pe, port, timeout, progress):
    from catsnn.errors import UserError
    from catsnn.host.soc_backend import SocBackend
    if not port:
        raise UserError("--backend soc needs --port URL (a serial device, "
                        "socket://HOST:PORT, or 'sim' to start the simulated SoC)")
    return SocBackend(art, port, check=check, timeout=timeout, progress=progress)


# name -> backend factory(art, check, pe, port, timeout, progress)
BACKENDS = {
    "reference": lambda art, *_: ReferenceBackend(art),
    "ann": lambda art, *_: AnnBackend(art),
    "core": lambda art, check, pe, *_: CoreBackend(art, pe=pe, check=check),
    "soc": _soc_backend,     # host/soc_backend.py: the SoC over its link
}


def first_difference(a: torch.Tensor, b: torch.Tensor):
    """(index tuple, expected, got) of the first differing element."""
    idx = (a != b).nonzero()[0].tolist()
    return idx, a[tuple(idx)].item(), b[tuple(idx)].item()


def compare(expected: BackendOutput, got: BackendOutput, art: ModelArtifact, offset: int):
    """Per-image mismatch mask and a description of the first mismatch (or None)."""
    n = expected.potentials.shape[0]
    bad = torch.zeros(n, dtype=torch.bool)
    first = None
    if got.bad_images is not None:
        bad |= got.bad_images
    layers = [*zip(expected.spike_times, got.spike_times), (expected.potentials, got.potentials)]
    for li, (e, g) in enumerate(layers):
        if e.shape != g.shape:
            bad[:] = True
            first = first or f"layer {li}: shape {tuple(g.shape)}, expected {tuple(e.shape)}"
            continue
        diff = (e.to(torch.int64) != g.to(torch.int64)).flatten(1).any(1)
        bad |= diff
    if bad.any():
        img = int(bad.nonzero()[0])
        for li, (e, g) in enumerate(layers):
            if e.shape == g.shape and not torch.equal(e[img].to(torch.int64), g[img].to(torch.int64)):
                (idx, want, have) = first_difference(e[img].to(torch.int64), g[img].to(torch.int64))
                what = "potential" if li == len(layers) - 1 else "spike time"
                where = (f"class {idx[0]}" if li == len(layers) - 1 else
                         f"channel {idx[0]} position ({idx[1]}, {idx[2]})" if len(idx) == 3 else
                         f"neuron {idx[0]}")
                first = (f"image {offset + img}: layer {li} {what}, {where}: expected {want}, "
                         f"got {have}")
                break
        if first is None:
            first = f"image {offset + img}: " + "; ".join(got.notes)
    return bad, first


def evaluate(art: ModelArtifact, backend: str, images: torch.Tensor, labels: torch.Tensor,
             offset: int = 0, check: bool = False, batch: int = 250, progress=True,
             pe: int = 16, port: str | None = None, timeout: float = 30.0) -> dict:
    be = BACKENDS[backend](art, check, pe, port, timeout, progress)
    batch = min(batch, getattr(be, "batch", batch))     # devices: progress per few images
    try:
        return _evaluate(be, art, backend, images, labels, offset, check, batch, progress)
    finally:
        if hasattr(be, "close"):
            be.close()


def _evaluate(be, art, backend, images, labels, offset, check, batch, progress) -> dict:
    ref = ReferenceBackend(art) if check else None
    n = len(labels)
    correct, mismatches, first, seconds = 0, 0, None, 0.0
    sops_total, have_sops = 0, True
    cycles_total = None
    per_image = []          # image, label, class, reference class, bit-exact, cycles
    tty = sys.stderr.isatty()
    last_print = 0.0
    for i in range(0, n, batch):
        x, y = images[i:i + batch], labels[i:i + batch]
        t0 = time.perf_counter()
        out = be.run(x)
        seconds += time.perf_counter() - t0
        correct += int((out.predictions == y).sum())
        if out.sops is None:
            have_sops = False
        else:
            sops_total += int(out.sops.sum())
        if out.cycles is not None:
            cycles_total = (cycles_total or 0) + int(out.cycles.sum())
        if ref is not None:
            r = ref.run(x)
            bad, desc = compare(r, out, art, offset + i)
            mismatches += int(bad.sum())
            first = first or desc
            for j in range(len(y)):
                per_image.append({"image": offset + i + j, "label": int(y[j]),
                                  "class": int(out.predictions[j]),
                                  "reference_class": int(r.predictions[j]),
                                  "bit_exact": not bool(bad[j]),
                                  "cycles": int(out.cycles[j]) if out.cycles is not None
                                  else None})
        done = min(n, i + batch)
        now = time.perf_counter()
        if progress and (tty or now - last_print > 10 or done == n):
            msg = (f"[eval {backend}] {done}/{n} images  top-1 {correct / done:.4f}  "
                   f"{done / max(seconds, 1e-9):.3g} img/s"
                   + (f"  mismatches {mismatches}" if check else ""))
            print(("\r" if tty else "") + msg, end="" if tty and done < n else "\n",
                  file=sys.stderr, flush=True)
            last_print = now
    result = {"backend": backend, "images": n, "offset": offset, "correct": correct,
              "top1": correct / n if n else 0.0,
              "images_per_s": n / seconds if seconds else 0.0}
    if have_sops and n:
        result["sops_per_image"] = sops_total / n
    if cycles_total is not None and n:
        result["cycles_per_image"] = cycles_total / n
        result.update(getattr(be, "info", {}))
        if hasattr(be, "link_stats"):
            result.update(be.link_stats())
        if have_sops:   # synaptic operations per cycle per processing element
            result["pe_efficiency"] = sops_total / cycles_total / result["pe"]
    if check:
        result["mismatches"] = mismatches
        result["first_mismatch"] = first
        result["per_image"] = per_image
    return result
