"""The probe behind docs/training.md's "average of W's and W2's phase-2 ends" (session 14).

    .venv/bin/python models/experiments-session-14/average_phase2_ends.py \
        runs/compact-cat-W/final.pt runs/compact-cat-W2/final.pt

Averages the latent float weights of phase-2 ends (folded networks) and evaluates the 5-bit
log network they quantise to, on all 10,000 test images ($CATSNN_DATA, default ../shared/data). Printed in session 14:
W 0.8969, W2 0.898, average 0.8963.
"""
import os
import sys

import torch

from catsnn.data import load_split
from catsnn.training.net import CatNet
from catsnn.training.train import evaluate

test = load_split(os.environ.get("CATSNN_DATA", "../shared/data"), False, "cifar10")
states = [torch.load(p, weights_only=False)["model"] for p in sys.argv[1:3]]


def top1(state):
    net = CatNet("compact", "folded", 8, 10)
    net.load_state_dict(state)
    return evaluate(net, test, "cpu")


for path, state in zip(sys.argv[1:3], states):
    print(path, top1(state))
print("average", top1({k: sum(s[k] for s in states) / len(states) for k in states[0]}))
