"""Plain conversion: the baseline CAT is measured against (`catsnn convert`).

A float network trained with ReLU (`catsnn train --mode float`) is converted the conventional way
(Rueckauer et al. 2017; Park's neural-coding code): BatchNorm folded into each conv, then
data-based normalisation: each layer's weights and bias are divided by the 99.9th percentile
of its ReLU activations on training images (and multiplied by the previous layer's), so that
activations sit in [0, 1] where the SNN's thresholds expect them; then the same 5-bit log
weights and artifact as CAT (training/export.py), with the chosen coding. No training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as Fn

from catsnn.codings import Coding
from catsnn.errors import UserError
from catsnn.training.export import artifact_from_model
from catsnn.training.net import CatNet, fold_bn as fold_one_bn

SAMPLE = 2_000_000          # activations per layer the percentile is taken over


def load_float(path) -> tuple[CatNet, dict]:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck["form"] != "relu":
            raise UserError(f"{path}: a {ck['form']!r} network; conversion starts from a float "
                            f"ReLU one (catsnn train --mode float)")
        a = ck["args"]
        net = CatNet(a["arch"], "relu", a["T"], ck["model"]["fc.weight"].shape[0])
        net.load_state_dict(ck["model"])
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"{path}: not a catsnn final.pt ({e})") from None
    return net.eval(), ck


@torch.no_grad()
def fold_bn(net: CatNet) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every conv with its BatchNorm folded in, then the fc's."""
    out = []
    for conv, bn in zip(net.convs, net.bns):
        out.append(fold_one_bn(conv.weight, bn.weight, bn.bias, bn.running_mean,
                               bn.running_var, bn.eps))
    out.append((net.fc.weight.clone(), net.fc.bias.clone()))
    return out


@torch.no_grad()
def normalise(params, pools, images: torch.Tensor, percentile: float = 99.9, batch: int = 250):
    """Data-based normalisation: per conv layer the percentile of its ReLU activations over
    ``images`` (uint8), each layer's weights scaled by lambda_(l-1) / lambda_l and its bias by
    1 / lambda_l; the fc layer takes lambda_(L-1). Returns the new params and the lambdas."""
    gen = torch.Generator().manual_seed(0)
    lambdas, prev = [], 1.0
    acts = [[] for _ in pools]
    for i in range(0, len(images), batch):
        x = images[i:i + batch].float() / 256.0
        for li, ((w, b), pool) in enumerate(zip(params[:-1], pools)):
            x = Fn.relu(Fn.conv2d(x, w, b, padding=1))
            flat = x.flatten()
            keep = torch.randint(0, flat.numel(), (max(1, SAMPLE * batch // len(images)),),
                                 generator=gen)
            acts[li].append(flat[keep])
            if pool:
                x = Fn.max_pool2d(x, 2)
    out = []
    for (w, b), a in zip(params[:-1], acts):
        lam = float(torch.quantile(torch.cat(a)[:16_000_000].double(), percentile / 100))
        lam = lam if lam > 0 else 1.0
        out.append((w * (prev / lam), b / lam))
        lambdas.append(lam)
        prev = lam
    w, b = params[-1]
    out.append((w * prev, b))
    return out, lambdas


def convert(float_pt, images: torch.Tensor, coding: Coding, T: int, percentile: float = 99.9,
            classes=(), name: str = ""):
    """The converted artifact of a float ReLU network for ``coding`` with window ``T``."""
    net, ck = load_float(float_pt)
    params, lambdas = normalise(fold_bn(net), net.pools, images, percentile)
    folded = CatNet(net.arch, "folded", T, net.num_classes, coding=coding)
    with torch.no_grad():
        for m, (w, b) in zip([*folded.convs, folded.fc], params):
            m.weight.copy_(w)
            m.bias.copy_(b)
    meta = {"conversion": {"from": str(float_pt), "method": "BN folding + data-based "
                           "normalisation", "percentile": percentile, "images": len(images),
                           "lambdas": lambdas},
            "dataset": ck["args"].get("dataset", "cifar10")}
    return artifact_from_model(folded, classes or ck.get("classes", ()), meta, name)
