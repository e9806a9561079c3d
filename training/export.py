"""Export a trained CAT network to the model artifact, and rebuild the exact ANN from one.

Export quantises each layer's (BN-folded) weights to 5-bit log codes with the same function the
training forward pass used, picks the smallest F that truncates no synaptic term, rounds the
biases to the 2^-F grid, and sets the accumulator width from the worst case over all inputs.
"""
from __future__ import annotations

from pathlib import Path

import torch

from catsnn.artifact import Layer, ModelArtifact, required_acc_bits, save_artifact
from catsnn.numerics import (quantize_weight_codes, required_frac_bits, weight_exponent_offset,
                             weight_values)
from catsnn.training.net import CatNet


def artifact_from_model(model: CatNet, classes=(), meta=None, name="") -> ModelArtifact:
    if model.form != "folded":
        raise ValueError(f"export needs a folded CAT network, got form {model.form!r}")
    if model.firing != "floor":
        raise ValueError(f"the artifact format has no firing rule {model.firing!r}")
    params = [(m.weight.detach().cpu(), m.bias.detach().cpu()) for m in [*model.convs, model.fc]]
    ks = [weight_exponent_offset(w) for w, _ in params]
    coding = model.coding
    F = coding.frac_bits_needed(ks[0], ks[1:]) if coding.timed else \
        required_frac_bits(model.T, ks[0], ks[1:])
    layers, h = [], model.input_size
    for i, ((w, b), k) in enumerate(zip(params, ks)):
        codes = quantize_weight_codes(w, k)
        bias = torch.round(b.double() * 2.0 ** F).to(torch.int64)
        if i < len(model.convs):
            pool = model.pools[i]
            layers.append(Layer("conv3x3", w.shape[1], w.shape[0], h, h, pool, True, k,
                                codes, bias))
            h = h // 2 if pool else h
        else:
            layers.append(Layer("fc", w.shape[1], w.shape[0], 1, 1, False, False, k, codes, bias))
    art = ModelArtifact(T=model.T, frac_bits=F, acc_bits=0, layers=layers,
                        input_shape=(3, model.input_size, model.input_size),
                        classes=list(classes), name=name, meta=dict(meta or {}),
                        coding=coding)
    art.acc_bits = required_acc_bits(art)
    return art


def export_model(model: CatNet, path, classes=(), meta=None, name="") -> Path:
    name = name or Path(path).stem
    return save_artifact(artifact_from_model(model, classes, meta, name), path)


def arch_spec(art: ModelArtifact) -> list:
    spec = []
    for l in art.layers[:-1]:
        spec += [l.out_channels] + (["P"] if l.pool else [])
    return spec


def ann_from_artifact(art: ModelArtifact, dtype=torch.float64) -> CatNet:
    """The CAT network with the artifact's exact weights and biases (float64: every product
    and partial sum is a multiple of 2^-F well below 2^53, so the float ANN computes the same
    numbers as the integer SNN)."""
    net = CatNet(arch_spec(art), "folded", art.T, art.layers[-1].out_channels,
                 input_size=art.input_shape[1], coding=art.coding).to(dtype)
    net.quantize_weights = False  # the weights below are already the quantised values
    with torch.no_grad():
        for layer, m in zip(art.layers, [*net.convs, net.fc]):
            m.weight.copy_(weight_values(layer.codes, layer.k, dtype=dtype))
            m.bias.copy_(layer.bias.to(dtype) * 2.0 ** -art.frac_bits)
    return net.eval()
