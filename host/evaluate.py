"""`catsnn eval`: one evaluation command for every backend (host/backends.py), with a
bit-exact check: ``--check`` runs the reference model on the same images and compares every
layer, image by image.
"""
from __future__ import annotations

import time

import torch

from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError
from catsnn.host.backends import (BackendOutput, EvalOptions, ImageError, ReferenceBackend,
                                  make_backend)
from catsnn.progress import Progress


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
                what = "potential" if li == len(layers) - 1 else \
                    "total" if art.coding.timed else "spike time"
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
             pe: int | None = None, port: str | None = None, timeout: float = 30.0,
             jobs: int = 1) -> dict:
    be = make_backend(backend, art, EvalOptions(check=check, pe=pe, port=port, timeout=timeout,
                                                progress=progress, jobs=jobs))
    try:
        return _evaluate(be, art, backend, images, labels, offset, check,
                         min(batch, be.batch), progress)
    finally:
        be.close()


def _evaluate(be, art, backend, images, labels, offset, check, batch, progress) -> dict:
    ref = ReferenceBackend(art) if check else None
    n = len(labels)
    correct, mismatches, first, seconds = 0, 0, None, 0.0
    sops_total, have_sops = 0, True
    cycles_total = None
    per_image = []          # image, label, class, reference class, bit-exact, cycles
    # timed codings, where the ANN twin is not exact: per firing layer, neurons whose totals
    # differ and the sum of |difference| (units of the smallest spike value); classes agreeing
    differing, abs_diff, neurons, same_class = None, None, None, 0
    shown = Progress(progress)
    for i in range(0, n, batch):
        x, y = images[i:i + batch], labels[i:i + batch]
        t0 = time.perf_counter()
        try:
            out = be.run(x)
        except ImageError as e:
            raise UserError(f"{backend}: test image {offset + i + e.index}: {e.message}") from None
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
            if art.coding.timed:
                pairs = [(e.to(torch.int64), g.to(torch.int64))
                         for e, g in zip(r.spike_times, out.spike_times)]
                d = [int((e != g).sum()) for e, g in pairs]
                a = [int((e - g).abs().sum()) for e, g in pairs]
                m = [e.numel() for e, _ in pairs]
                differing = d if differing is None else [u + v for u, v in zip(differing, d)]
                abs_diff = a if abs_diff is None else [u + v for u, v in zip(abs_diff, a)]
                neurons = m if neurons is None else [u + v for u, v in zip(neurons, m)]
                same_class += int((r.predictions == out.predictions).sum())
            for j in range(len(y)):
                per_image.append({"image": offset + i + j, "label": int(y[j]),
                                  "class": int(out.predictions[j]),
                                  "reference_class": int(r.predictions[j]),
                                  "bit_exact": not bool(bad[j]),
                                  "cycles": int(out.cycles[j]) if out.cycles is not None
                                  else None})
        done = min(n, i + batch)
        shown.update(f"[eval {backend}] {done}/{n} images  top-1 {correct / done:.4f}  "
                     f"{done / max(seconds, 1e-9):.3g} img/s"
                     + (f"  mismatches {mismatches}" if check else ""), final=done == n)
    result = {"backend": backend, "images": n, "offset": offset, "correct": correct,
              "top1": correct / n if n else 0.0,
              "images_per_s": n / seconds if seconds else 0.0}
    if have_sops and n:
        result["sops_per_image"] = sops_total / n
    result.update(be.info())
    if cycles_total is not None and n:
        result["cycles_per_image"] = cycles_total / n
        if have_sops:   # synaptic operations per cycle per processing element
            result["pe_efficiency"] = sops_total / cycles_total / result["pe"]
    if check:
        result["mismatches"] = mismatches
        result["first_mismatch"] = first
        result["per_image"] = per_image
        if art.coding.timed and neurons:
            result["coding"] = art.coding.to_json()
            result["class_agreement"] = same_class / n
            result["layer_differences"] = [
                {"layer": li, "neurons_differing": dd / nn, "mean_abs_difference": aa / nn}
                for li, (dd, aa, nn) in enumerate(zip(differing, abs_diff, neurons))]
    return result
