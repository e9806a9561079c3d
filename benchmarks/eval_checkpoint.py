"""Test top-1 of a training checkpoint (final.pt) in float32: the float baseline's figure.

    .venv/bin/python benchmarks/eval_checkpoint.py runs/compact-float/final.pt [--data DIR]

Prints the accuracy with the BatchNorm running statistics stored in the checkpoint and after
re-estimating them on 10,000 un-augmented training images (training/train.py: recalibrate_bn),
the rule the CAT recipe applies before every evaluation and before folding.
"""
import argparse
import json
import os
from pathlib import Path

import torch

from catsnn.data import load_split
from catsnn.training.net import CatNet
from catsnn.training.train import evaluate, recalibrate_bn

ROOT = Path(__file__).resolve().parents[1]

p = argparse.ArgumentParser()
p.add_argument("checkpoint")
p.add_argument("--data", default=os.environ.get("CATSNN_DATA", str(ROOT.parent / "shared/data")))
a = p.parse_args()
ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
net = CatNet(ck["args"]["arch"], ck["form"], ck["args"]["T"], ck["model"]["fc.weight"].shape[0])
net.load_state_dict(ck["model"])
test, train = load_split(a.data, False), load_split(a.data, True)
r = {"checkpoint": a.checkpoint, "form": ck["form"], "test_top1_running_stats": evaluate(net, test, "cpu")}
recalibrate_bn(net, train.images, "cpu")
r["test_top1_recalibrated"] = evaluate(net, test, "cpu")
print(json.dumps(r))
