"""Images/s of the reference SNN next to the float32 ANN inference of the same network.

    .venv/bin/python benchmarks/reference_speed.py [--images 500] [--threads 2]
    .venv/bin/python benchmarks/reference_speed.py --coded --images 256 --threads 1

Compact: the shipped artifact on real CIFAR-10 test images. VGG-16: an artifact exported from a
freshly initialised network (speed only: the work per image does not depend on training, apart
from the event counts). Prints one line per (model, engine). With --coded: the time-stepped
reference (reference/coded_snn.py) of each CAT model under models/codings/ instead.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.reference.coded_snn import CodedSNN
from catsnn.reference.snn import ReferenceSNN
from catsnn.training.export import ann_from_artifact, artifact_from_model
from catsnn.training.net import CatNet

ROOT = Path(__file__).resolve().parents[1]


def rate(fn, images, batch):
    fn(images[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        fn(images[i:i + batch])
    return len(images) / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--data", default=os.environ.get("CATSNN_DATA", str(ROOT.parent / "shared/data")))
    p.add_argument("--coded", action="store_true",
                   help="the rate / phase / burst references of models/codings/*-cat.catsnn")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    images = load_split(a.data, False).images[:a.images]
    if a.coded:
        coded(images, a)
        return
    torch.manual_seed(0)
    vgg = CatNet("vgg16", "cat_bn", 8)
    models = {"compact (shipped)": load_artifact(ROOT / "models/compact-cifar10.catsnn"),
              "vgg16 (untrained)": artifact_from_model(vgg.eval().folded())}
    print(f"{a.images} CIFAR-10 test images, batch {a.batch}, {a.threads} threads")
    for name, art in models.items():
        n = a.images if "compact" in name else max(a.batch, a.images // 10)
        snn = ReferenceSNN(art)
        ann32 = ann_from_artifact(art, torch.float32).to(memory_format=torch.channels_last)
        ann64 = ann_from_artifact(art, torch.float64)
        with torch.no_grad():
            r_ref = rate(snn.run, images[:n], a.batch)
            r_32 = rate(lambda x: ann32((x.float() / 256).contiguous(
                memory_format=torch.channels_last)), images[:n], a.batch)
            r_64 = rate(lambda x: ann64(x.double() / 256), images[:n], a.batch)
        print(f"{name:18s} reference SNN {r_ref:7.1f} img/s | float32 ANN {r_32:7.1f} img/s | "
              f"exact float64 ANN {r_64:6.1f} img/s | reference / float32 = {r_ref / r_32:.2f}")


def coded(images, a):
    print(f"{len(images)} CIFAR-10 test images, {a.threads} threads: the time-stepped reference")
    for path in sorted((ROOT / "models" / "codings").glob("*-cat.catsnn")):
        art = load_artifact(path)
        if not art.coding.timed:
            continue
        snn = CodedSNN(art)
        with torch.no_grad():
            r = rate(snn.run, images, len(images))
        print(f"{path.name:24s} T = {art.T:2d}  {r:6.1f} img/s  (10,000 images: "
              f"{10000 / r / 60:.1f} min)")


if __name__ == "__main__":
    main()

