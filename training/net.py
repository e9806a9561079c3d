"""VGG-style CIFAR networks in the three forms the flow uses.

* ``relu``: conv -> BN -> ReLU, the plain float baseline;
* ``cat_bn``: conv -> BN -> log-TTFS activation (CAT phase 1, float weights; with ``fold_aware``
  every weight already as folding and quantising will make it);
* ``folded``: conv with BN folded into weight and bias -> log-TTFS activation, weights through the
  5-bit log quantiser (CAT phase 2 and, in float64 with weights from the artifact, the exact ANN).

Every conv is 3x3, stride 1, padding 1; 'P' after a conv fuses 2x2 max pooling into it. The last
layer is a fully connected layer on the NCHW-flattened feature map; it does not fire.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as Fn

from catsnn.codings import Coding
from catsnn.training.cat_layers import coded_activation, log5_quantize, log_ttfs_activation

ARCHS = {
    # 307,040 weights = 1,535,200 bits at 5 bits (<= 1.5 Mibit = 1,572,864 bits)
    "compact": [32, 32, "P", 64, 64, "P", 128, 128, "P"],
    # The CIFAR VGG-16 of the paper: 13 conv3x3 with BN and max pooling, then one FC layer.
    "vgg16": [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P",
              512, 512, 512, "P"],
}


def conv_layers(arch):
    """[(in_ch, out_ch, pool)] for the conv layers of an architecture (a name of ARCHS or a
    spec list such as [32, "P", 64])."""
    spec, layers, cin = (ARCHS[arch] if isinstance(arch, str) else arch), [], 3
    for i, item in enumerate(spec):
        if item == "P":
            continue
        pool = i + 1 < len(spec) and spec[i + 1] == "P"
        layers.append((cin, item, pool))
        cin = item
    return layers


def bn_scale(gamma, var, eps: float = 1e-5):
    """The per-channel factor a BatchNorm in eval mode multiplies by: gamma / sqrt(var + eps)."""
    return gamma / torch.sqrt(var + eps)


def fold_bn(weight, gamma, beta, mean, var, eps: float = 1e-5):
    """A conv's weight and bias with a BatchNorm (its running statistics) folded in."""
    s = bn_scale(gamma, var, eps)
    return weight * s[:, None, None, None], beta - mean * s


def fc_in_features(arch, size: int = 32) -> int:
    layers = conv_layers(arch)
    side = size >> sum(p for _, _, p in layers)
    return layers[-1][1] * side * side


class CatNet(nn.Module):
    def __init__(self, arch="compact", form: str = "cat_bn", T: int = 8,
                 num_classes: int = 10, input_size: int = 32, firing: str = "floor",
                 ste_upper: float = 1.0, coding: Coding = Coding(),
                 quantized_first: bool = False, fold_aware: bool = False):
        super().__init__()
        self.coding = coding     # log-TTFS, or a timed coding's activation (T: its window)
        assert form in ("relu", "cat_bn", "folded"), form
        self.arch, self.form, self.T, self.num_classes = arch, form, T, num_classes
        self.input_size, self.firing = input_size, firing
        self.ste_upper = ste_upper   # training only: where the straight-through gradient ends
        self.quantize_weights = form == "folded"
        # CAT phase 1 with the first layer already as phase 2 has it (no BN, 5-bit log weights):
        # it is the layer that loses most when quantised, and so the others learn on its output
        self.quantized_first = quantized_first and form == "cat_bn"
        # CAT phase 1 that trains the network folding yields: each conv's weights pass through
        # the quantiser as q(w * s) / s, s = gamma / sqrt(running var + eps), so that BN in eval
        # mode gives exactly conv(x, q(w * s)) + beta - mean * s, the folded, quantised layer;
        # the FC layer is quantised too. Phase 2 then starts where phase 1 ended.
        self.fold_aware = fold_aware and form == "cat_bn"
        self.pools = [p for _, _, p in conv_layers(arch)]
        folded = form == "folded"
        self.convs = nn.ModuleList(
            nn.Conv2d(ci, co, 3, padding=1, bias=folded or (i == 0 and self.quantized_first))
            for i, (ci, co, _) in enumerate(conv_layers(arch)))
        self.bns = nn.ModuleList() if folded else nn.ModuleList(
            nn.Identity() if i == 0 and self.quantized_first else nn.BatchNorm2d(co)
            for i, (_, co, _) in enumerate(conv_layers(arch)))
        self.fc = nn.Linear(fc_in_features(arch, input_size), num_classes)

    def weight(self, layer: nn.Module, bn: nn.Module | None = None) -> torch.Tensor:
        """The weights a layer computes with; bn: the BatchNorm after it (phase 1)."""
        if self.fold_aware and isinstance(bn, nn.BatchNorm2d):
            # s carries no gradient: gamma learns through BN alone, w straight through q
            s = bn_scale(bn.weight, bn.running_var, bn.eps).detach()
            s = torch.where(s == 0, torch.ones_like(s), s)[:, None, None, None]
            return log5_quantize(layer.weight * s)[0] / s
        quantized = (self.quantize_weights or self.fold_aware
                     or (self.quantized_first and layer is self.convs[0]))
        return log5_quantize(layer.weight)[0] if quantized else layer.weight

    @property
    def batchnorms(self) -> list[nn.BatchNorm2d]:
        return [bn for bn in self.bns if isinstance(bn, nn.BatchNorm2d)]

    def act(self, x: torch.Tensor) -> torch.Tensor:
        if self.form == "relu":
            return Fn.relu(x)
        if self.coding.timed:
            return coded_activation(x, self.coding, self.T)
        return log_ttfs_activation(x, self.T, self.firing, self.ste_upper)

    def forward(self, x: torch.Tensor, return_potentials_per_layer: bool = False):
        """x: pixels as values p/256. Returns logits (the last layer's potentials) and, when
        asked, the list of every conv layer's (pooled) activation values."""
        acts = []
        if self.form != "relu" and self.coding.name == "phase" and self.coding.period < 8:
            k = 1 << self.coding.period      # phase input: the pixel's K leading bits
            x = torch.floor(x * k) / k
        for i, conv in enumerate(self.convs):
            x = Fn.conv2d(x, self.weight(conv, self.bns[i] if self.bns else None), conv.bias,
                          padding=1)
            if self.bns:
                x = self.bns[i](x)
            x = self.act(x)
            if self.pools[i]:
                x = Fn.max_pool2d(x, 2)
            acts.append(x)
        x = Fn.linear(x.flatten(1), self.weight(self.fc), self.fc.bias)
        return (x, acts) if return_potentials_per_layer else x

    @torch.no_grad()
    def folded(self) -> "CatNet":
        """A ``folded`` copy: BN (running statistics) folded into each conv's weight and bias."""
        assert self.form == "cat_bn", "only a CAT network with BN is folded"
        out = CatNet(self.arch, "folded", self.T, self.num_classes, self.input_size, self.firing,
                     self.ste_upper, self.coding)
        for conv, bn, dst in zip(self.convs, self.bns, out.convs):
            if isinstance(bn, nn.Identity):            # already folded (quantized_first)
                dst.load_state_dict(conv.state_dict())
                continue
            w, b = fold_bn(conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                           bn.eps)
            dst.weight.copy_(w)
            dst.bias.copy_(b)
        out.fc.load_state_dict(self.fc.state_dict())
        return out
