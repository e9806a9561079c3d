"""Runs a board bundle (``host/board_bundle.py``) on a device and compares every layer of every
image with the reference's answers stored in it. Torch-free: this is what runs on a PYNQ board.

    python3 -m catsnn.host.board_run catsnn-bundle.npz --port pynq:catsnn.bit [--limit N]

Exit status: 0 when every image is bit-exact (spike maps of every firing layer, the fc layer's
potentials, SOPs per layer), 1 when one is not (the first difference of each such image is
reported: layer, channel, position, expected, got), 2 on an error (one line naming it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from catsnn.errors import UserError
from catsnn.host.board_bundle import Bundle, load_bundle
from catsnn.host.driver import CoreDriver
from catsnn.progress import Progress


def first_difference(b: Bundle, i: int, run, layers: list[int]) -> str | None:
    """The first place where image i's run differs from the bundle's answers, or None."""
    for layer, want, got in zip(layers, b.want_maps, run.spike_times):
        diff = np.argwhere(want[i] != got)
        if len(diff):
            c, y, x = diff[0].tolist()
            return (f"layer {layer} channel {c} position ({y}, {x}): expected "
                    f"{int(want[i][c, y, x])}, got {int(got[c, y, x])}")
    diff = np.flatnonzero(b.want_potentials[i] != run.potentials)
    if len(diff):
        c = int(diff[0])
        return (f"potential of class {c}: expected {int(b.want_potentials[i][c])}, got "
                f"{int(run.potentials[c])}")
    sops = run.counters.get("sops")
    if sops is not None and list(sops) != b.want_sops[i].tolist():
        return f"SOPs per layer: expected {b.want_sops[i].tolist()}, got {list(sops)}"
    return None


def run_bundle(device, b: Bundle, limit: int | None = None, check: bool = True,
               progress: bool = True) -> dict:
    """Load the bundle's model on ``device`` and run its images (step mode when checking)."""
    n = len(b) if limit is None else min(limit, len(b))
    if n <= 0:
        raise UserError("--limit must be positive")
    drv = CoreDriver(device, b.compiled)
    layers = b.compiled.firing_layers
    classes, mismatches, cycles = [], [], []
    prog = Progress(enabled=progress)
    t0 = time.monotonic()
    for i in range(n):
        r = drv.run_image(b.pixels[i], with_maps=check)
        classes.append(int(r.potentials.argmax()))
        cycles.append(r.cycles)
        if check:
            where = first_difference(b, i, r, layers)
            if where is not None:
                mismatches.append({"image": i, "first_difference": where})
        prog.update(f"[board] {i + 1}/{n} images, {len(mismatches)} mismatches", final=i + 1 == n)
    wall = time.monotonic() - t0
    labels = b.labels[:n].tolist()
    want = b.want_potentials[:n].argmax(1).tolist()
    return {"model": b.model, "device": device.info().description, "images": n,
            "correct": sum(c == y for c, y in zip(classes, labels)),
            "accuracy": sum(c == y for c, y in zip(classes, labels)) / n,
            "reference_classes_equal": classes == want, "checked": check,
            "mismatches": len(mismatches), "mismatched_images": mismatches,
            "model_load_s": round(drv.load_s, 3), "images_per_s": round(n / wall, 3),
            "mean_cycles": sum(cycles) / n}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m catsnn.host.board_run",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", help="catsnn-bundle.npz (catsnn bundle MODEL --out DIR)")
    ap.add_argument("--port", default="pynq",
                    help="pynq[:BITFILE] (default: catsnn.bit in this folder), or any port of "
                         "catsnn eval where the whole package is installed")
    ap.add_argument("--limit", type=int, default=None, help="the first N images of the bundle")
    ap.add_argument("--no-check", action="store_true",
                    help="no step mode: classes only (faster), no per-layer comparison")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    a = ap.parse_args(argv)
    device = None
    try:
        b = load_bundle(a.bundle)
        try:
            from catsnn.host.device import open_device
            device = open_device(a.port, pe=b.compiled.cfg.pe, progress=not a.quiet)
        except ImportError as e:       # a board folder holds only what the PYNQ port needs
            raise UserError(f"--port {a.port} is not available here ({e.name} is missing); "
                            f"on a board use --port pynq[:BITFILE]") from None
        r = run_bundle(device, b, a.limit, check=not a.no_check, progress=not a.quiet)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if device is not None:
            device.close()
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['model']} on {r['device']}: {r['correct']}/{r['images']} correct "
              f"({100 * r['accuracy']:.2f} %), {r['images_per_s']} images/s, model load "
              f"{r['model_load_s']} s")
        if r["checked"]:
            print(f"bit-exact against the reference: {r['images'] - r['mismatches']}/"
                  f"{r['images']} images (every layer)")
            for m in r["mismatched_images"]:
                print(f"  image {m['image']}: {m['first_difference']}")
    return 1 if r["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
