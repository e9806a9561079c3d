"""The reference of the time-stepped codings (rate, phase, burst): docs/numerics.md, "Other
neural codings". The specification, as reference/snn.py is for log-TTFS.

Vectorised over images and whole spike trains: a layer's input at step t is its input layer's
output at step t (no delay), so each layer runs after the previous one has produced all T
steps. The synaptic drive of every step comes from one batch of exact float32 convolutions
(reference/snn.py's ExactPlan: integers, recombined in float64, exact below 2^53, which the
artifact's accumulator width guarantees); the neurons then step through t in float64, whose
values are all integers (units of 2^-F).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from catsnn.artifact import ModelArtifact
from catsnn.numerics import PIXEL_FRAC_BITS
from catsnn.reference.snn import check_images, exact_synaptic_sum, layer_setup

STEP_BATCH = 2048        # images x steps per convolution batch (memory)


@dataclass
class CodedResult:
    totals: list             # per firing layer: int64 (N, C, H, W) after pooling, units of S
    potentials: torch.Tensor  # int64 (N, classes), units of 2^-F
    input_events: torch.Tensor   # int64 (N, layers)
    sops: torch.Tensor           # int64 (N, layers)
    output_spikes: torch.Tensor  # int64 (N, layers); 0 for the last layer

    @property
    def predictions(self) -> torch.Tensor:
        return self.potentials.argmax(1)


def pool_gated(acc: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """2x2 pooling of one step's outputs ``out``: in each window the output of the member with
    the largest accumulated value ``acc``, ties to the first of (0,0), (0,1), (1,0), (1,1)
    (torch.argmax returns the first maximum)."""
    n, c, h, w = acc.shape

    def windows(t):
        return t.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5) \
            .reshape(n, c, h // 2, w // 2, 4)
    pick = windows(acc).argmax(-1, keepdim=True)
    return windows(out).gather(-1, pick).squeeze(-1)


class CodedSNN:
    def __init__(self, art: ModelArtifact):
        if not art.coding.timed:
            raise ValueError("CodedSNN runs rate, phase and burst models; log-TTFS is "
                             "reference/snn.py")
        self.art, self.coding = art, art.coding
        K, B = art.coding.period, art.coding.max_burst
        # a spike's value in units of S: 1 (rate), up to 2^(K-1) (phase), up to 2^B (burst)
        top = 1 << {"rate": 0, "phase": K - 1, "burst": B}[art.coding.name]
        self.layers = [layer_setup(art, i, l, PIXEL_FRAC_BITS if i == 0 else art.coding.unit_exp,
                                   255 if i == 0 else top) for i, l in enumerate(art.layers)]

    def inputs(self, pixels: torch.Tensor) -> torch.Tensor:
        """Layer 0's input at every step: float32 (T, N, C, H, W), units of 2^-8."""
        T, c = self.art.T, self.coding
        p = pixels.float()
        if c.name != "phase":
            return p.unsqueeze(0).expand(T, *p.shape)
        steps = []
        for t in range(T):
            j = t % c.period
            if j > 7:
                steps.append(torch.zeros_like(p))
            else:            # bit 7 - j of p, worth 2^-(j+1) = 2^(7-j) units of 2^-8
                steps.append(((pixels.long() >> (7 - j)) & 1).float() * (1 << (7 - j)))
        return torch.stack(steps)

    def drive(self, x: torch.Tensor, layer) -> torch.Tensor:
        """The synaptic drive of every step, float64 (T, N, ...) in units of 2^-F."""
        l, plan, _, shift = layer
        T, n = x.shape[:2]
        flat = x.reshape(T * n, *x.shape[2:])
        out = []
        for i in range(0, T * n, STEP_BATCH):
            part = flat[i:i + STEP_BATCH]
            if l.kind == "conv3x3":
                out.append(exact_synaptic_sum(part, plan, lambda a, w: Fn.conv2d(a, w, padding=1),
                                              shift))
            else:
                out.append(exact_synaptic_sum(part.flatten(1), plan, torch.matmul, shift))
        d = torch.cat(out)
        return d.view(T, n, *d.shape[1:])

    @torch.no_grad()
    def run(self, pixels: torch.Tensor) -> CodedResult:
        """pixels: uint8 (N, C, H, W); in chunks of at most STEP_BATCH image-steps."""
        art = self.art
        check_images(pixels, art)
        chunk = max(1, STEP_BATCH // art.T)
        parts = [self._run(pixels[i:i + chunk]) for i in range(0, pixels.shape[0], chunk)]
        if len(parts) == 1:
            return parts[0]
        return CodedResult([torch.cat(z) for z in zip(*[p.totals for p in parts])],
                           *[torch.cat([getattr(p, f) for p in parts]) for f in
                             ("potentials", "input_events", "sops", "output_spikes")])

    def _run(self, pixels: torch.Tensor) -> CodedResult:
        art, c = self.art, self.coding
        T, F, K, B = art.T, art.frac_bits, c.period, c.max_burst
        n = pixels.shape[0]
        x = self.inputs(pixels)
        totals, ev_in, sops, spikes = [], [], [], []
        for li, layer in enumerate(self.layers):
            l, _, reach, _ = layer
            events = (x != 0).flatten(2).sum(0, dtype=torch.int64)      # (N, inputs)
            ev_in.append(events.sum(1))
            sops.append((events.double() @ reach).round().to(torch.int64))
            d = self.layer_drive(x, layer, first=li == 0)
            bias = l.bias.double().view(-1, *([1] * (d.dim() - 3)))
            if not l.fires:          # the output layer integrates: no threshold, no reset
                steps_with_bias = T if c.name != "phase" else T // K
                v = d.sum(0) + bias * steps_with_bias
                spikes.append(torch.zeros(n, dtype=torch.int64))
                potentials = v.to(torch.int64)
                break
            # the potentials in int32 where the accumulator width allows (half the memory
            # traffic of float64, and the neuron loop is memory-bound), else int64
            dt = torch.int32 if art.acc_bits <= 32 else torch.int64
            d = d.to(dt)
            bias = bias.to(dt)
            shape = d.shape[1:]
            v = torch.full(shape, 1 << (F - c.unit_exp - 1), dtype=dt)
            fired = torch.zeros(shape, dtype=torch.int32)               # spikes per neuron
            acc = torch.zeros(shape, dtype=torch.int32) if l.pool else None
            run_len = torch.zeros(shape, dtype=dt) if c.name == "burst" else None
            outs = []
            for t in range(T):
                j = t % K if c.name == "phase" else 0
                v.add_(d[t])
                if c.name != "phase" or j == 0:
                    v.add_(bias)
                if c.name == "burst":       # threshold 2^(F+m), m = min(B, spikes in a row)
                    m = run_len.clamp(max=B)
                    fire = v >= torch.bitwise_left_shift(torch.ones_like(m), m + F)
                    v.sub_(torch.bitwise_left_shift(fire.to(dt), m + F))
                    out = torch.bitwise_left_shift(fire.to(torch.int32), m.to(torch.int32))
                    run_len.add_(1).mul_(fire)
                else:
                    shift = F if c.name == "rate" else F - j - 1
                    fire = v >= (1 << shift)
                    v.sub_(fire.to(dt) << shift)
                    out = fire.to(torch.int32) << (0 if c.name == "rate" else K - 1 - j)
                fired.add_(fire)
                if l.pool:
                    acc.add_(out)
                    out = pool_gated(acc, out)
                outs.append(out)
            spikes.append(fired.flatten(1).sum(1).to(torch.int64))
            y = torch.stack(outs)                                        # (T, N, C, H', W')
            totals.append(y.sum(0).to(torch.int64))
            x = y.float()            # the next layer's input, units of S (exact: <= 2^15)
        return CodedResult(totals, potentials, torch.stack(ev_in, 1), torch.stack(sops, 1),
                           torch.stack(spikes, 1))

    def layer_drive(self, x: torch.Tensor, layer, first: bool) -> torch.Tensor:
        """The drive of every step, (T, N, ...). Layer 0 repeats its input (rate and burst:
        the same pixels every step; phase: the same bit-plane at the same phase), so its
        drive is computed once per distinct input and indexed."""
        if not first:
            return self.drive(x, layer)
        T, c = self.art.T, self.coding
        distinct = 1 if c.name != "phase" else min(T, c.period)
        d = self.drive(x[:distinct], layer)
        return d[[t % distinct for t in range(T)]] if distinct > 1 else d.expand(T, *d.shape[1:])
