"""Random artifacts for tests: small networks with controllable weights and biases."""
from __future__ import annotations

import torch

from catsnn.artifact import Layer, ModelArtifact, required_acc_bits
from catsnn.numerics import required_frac_bits


def random_artifact(spec, T=8, size=8, classes=5, seed=0, ks=None, code_hi=14,
                    bias_scale=0.5, bias_offset=0.0, positive_only=False, zero_frac=0.1):
    """spec like [4, "P", 6, "P"]: conv widths with pooling marks; an fc layer follows.

    Weight codes are drawn uniformly from c in 0..code_hi (a fraction zero_frac zero);
    biases are bias_offset + bias_scale * N(0, 1), in real units.
    """
    g = torch.Generator().manual_seed(seed)
    convs, cin, h = [], 3, size
    items = list(spec)
    for i, it in enumerate(items):
        if it == "P":
            continue
        pool = i + 1 < len(items) and items[i + 1] == "P"
        convs.append((cin, it, h, pool))
        cin, h = it, (h // 2 if pool else h)
    shapes = [((co, ci, 3, 3), co, ci, hh, pool) for ci, co, hh, pool in convs]
    n_layers = len(convs) + 1
    ks = ks if ks is not None else [int(torch.randint(-2, 3, (1,), generator=g)) for _ in range(n_layers)]
    F = required_frac_bits(T, ks[0], ks[1:])

    def codes(shape):
        c = torch.randint(0, code_hi + 1, shape, generator=g)
        zero = torch.rand(shape, generator=g) < zero_frac
        c = torch.where(zero, torch.full_like(c, 15), c)
        sign = torch.zeros(shape, dtype=torch.int64) if positive_only else \
            torch.randint(0, 2, shape, generator=g) * 16
        sign = torch.where(zero, 0, sign)
        return (c | sign).to(torch.uint8)

    def bias(n):
        b = bias_offset + bias_scale * torch.randn(n, generator=g, dtype=torch.float64)
        return torch.round(b * 2.0 ** F).to(torch.int64)

    layers = []
    for (shape, co, ci, hh, pool), k in zip(shapes, ks):
        layers.append(Layer("conv3x3", ci, co, hh, hh, pool, True, k, codes(shape), bias(co)))
    fin = cin * h * h
    layers.append(Layer("fc", fin, classes, 1, 1, False, False, ks[-1], codes((classes, fin)),
                        bias(classes)))
    art = ModelArtifact(T=T, frac_bits=F, acc_bits=0, layers=layers,
                        classes=[f"c{i}" for i in range(classes)], input_shape=(3, size, size))
    art.acc_bits = required_acc_bits(art)
    return art


def random_images(n, size=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g).to(torch.uint8)
