"""The reference model: the integer log-TTFS SNN that an artifact describes. It is the spec.

All state is integers: spike times (uint8, NO_SPIKE = 255), membrane potentials (int64, units
of 2^-F), weights as codes. The synaptic sums run through float32 convolutions of integer-valued
tensors, split (ExactPlan) so that every product and partial sum is an integer of magnitude
<= 2^24: float32 computes them exactly, and the parts are recombined in int64 with shifts.

For each layer it also counts events per image: input events (nonzero pixels, or input spikes),
synaptic operations (an input event times a nonzero weight it reaches), output spikes (neurons
that fire, before pooling).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from catsnn.artifact import ModelArtifact
from catsnn.numerics import (NO_SPIKE, PIXEL_FRAC_BITS, WEIGHT_EXP_MAX, decode_weight_codes,
                             spike_time_int, spike_value_int, weight_ints)


@dataclass
class SNNResult:
    spike_times: list      # per firing layer: uint8 (N, C, H, W) after pooling
    potentials: torch.Tensor  # int64 (N, classes), units of 2^-F
    input_events: torch.Tensor   # int64 (N, layers)
    sops: torch.Tensor           # int64 (N, layers)
    output_spikes: torch.Tensor  # int64 (N, layers); 0 for the non-firing last layer

    @property
    def predictions(self) -> torch.Tensor:
        return self.potentials.argmax(1)  # first maximum: ties go to the lowest index


FLOAT32_EXACT = 1 << 24  # every integer of magnitude <= 2^24 is exact in float32


@dataclass
class ExactPlan:
    """How one layer's integer synaptic sum is split into float32 operations that are exact.

    The input x (non-negative integers <= max_x) is split into digit planes of ``in_bits`` bits
    (one plane when it fits), the weights (+-2^e, e = 0..14) into bands of neighbouring exponents
    [lo, hi], each band divided by 2^lo. A band is only as wide as this bound allows: for every
    output neuron, max_digit * sum(|w| / 2^lo over its band) <= 2^24. That sum bounds every
    partial sum of that neuron for any input, so float32 (any order, FMA or not) computes each
    part exactly; the parts are recombined with shifts.
    """
    in_bits: int
    in_planes: int
    bands: list  # [(lo exponent, float32 weight band w / 2^lo)]

    @property
    def convs(self):
        return self.in_planes * len(self.bands)


def _bands(mag: torch.Tensor, max_digit: int):
    """Greedy split of exponents 14..0 into bands, top down; None if one exponent alone fails."""
    per_exp = [(mag == (1 << e)).sum(1) for e in range(15)]  # count per output neuron
    bands, hi, acc = [], None, None
    for e in range(14, -1, -1):
        if hi is None:
            if not per_exp[e].any():
                continue
            hi, lo, acc = e, e, per_exp[e].clone()
            if int(acc.max()) * max_digit > FLOAT32_EXACT:
                return None
            continue
        trial = acc * 2 + per_exp[e]  # widening the band down by one exponent doubles the rest
        if int(trial.max()) * max_digit <= FLOAT32_EXACT:
            acc, lo = trial, e
        elif per_exp[e].any():
            bands.append((lo, hi))
            hi, lo, acc = e, e, per_exp[e].clone()
            if int(acc.max()) * max_digit > FLOAT32_EXACT:
                return None
        else:  # an unused exponent: keep the band open, shift its reference down later
            bands.append((lo, hi))
            hi = None
    if hi is not None:
        bands.append((lo, hi))
    return bands


def exact_plan(w_int: torch.Tensor, max_x: int, powers_of_two: bool) -> ExactPlan:
    """w_int: integer weights, output neurons along dim 0 (conv) or dim 1 (fc, transposed)."""
    fc = w_int.dim() == 2
    per_out = (w_int.t() if fc else w_int).reshape(w_int.shape[1 if fc else 0], -1).abs()
    x_bits = max(1, max_x.bit_length())
    best = None
    for s in range(x_bits, 0, -1):
        max_digit = (1 << (s - 1)) if powers_of_two else min((1 << s) - 1, max_x)
        bands = _bands(per_out, max_digit)
        if bands is None:
            continue
        planes = -(-x_bits // s)
        if best is None or planes * max(1, len(bands)) < best[0]:
            best = (planes * max(1, len(bands)), s, planes, bands)
    if best is None:
        raise ValueError("a weight exponent is used too often for exact float32 sums")
    _, s, planes, bands = best
    mag = w_int.abs()
    parts = [(lo, torch.where((mag >= (1 << lo)) & (mag <= (1 << hi)), w_int >> lo, 0).float())
             for lo, hi in bands]
    if not parts:  # a layer whose weights are all zero
        parts.append((0, torch.zeros_like(w_int, dtype=torch.float32)))
    return ExactPlan(s, planes, parts)


def exact_parts(x: torch.Tensor, plan: ExactPlan, op):
    """The exact float32 parts of sum(x * w): pairs (op(x_plane, w_band), e) whose sum of
    part * 2^e is the exact sum. Every part is an integer exact in float32 (the plan bounds
    each input plane times each weight band below 2^24); the callers recombine them, in
    float64 (exact_synaptic_sum) or in integers (coded_snn.exact_integer_sum)."""
    mask = (1 << plan.in_bits) - 1
    for p in range(plan.in_planes):
        xf = ((x.long() >> (p * plan.in_bits)) & mask).float() if plan.in_planes > 1 else x
        for lo, wb in plan.bands:
            yield op(xf, wb), lo + p * plan.in_bits


def exact_synaptic_sum(x: torch.Tensor, plan: ExactPlan, op, scale: int) -> torch.Tensor:
    """2^scale * sum(x * w), through the plan's exact float32 operations ``op(x, w)``.

    The parts are recombined in float64: each part times a power of two is exact, and so is
    every sum as long as the result stays below 2^53 (the artifact's accumulator width <= 53).
    """
    total = None
    for part, e in exact_parts(x, plan, op):
        weight = float(2 ** (e + scale))
        if total is None:
            total = part.double().mul_(weight)
        else:
            total.add_(part, alpha=weight)
    return total


def exponent_index(v: torch.Tensor) -> torch.Tensor:
    """Index 0..4095 from the sign and biased exponent of float64 values: the leading-one
    detector read off the IEEE bits (for an integer v >= 1, floor(log2 v) = index - 2048 - 1023;
    negative values map below 2048, zero to 2048)."""
    return (v.view(torch.int64) >> 52) + 2048


def spike_time_table(frac_bits: int, T: int) -> torch.Tensor:
    """exponent_index -> spike time (uint8): t = F - floor(log2 v), clamped at 0, NO_SPIKE when
    v <= 0 or t > T - 1. Equal to spike_time_int on every integer v (checked by the tests)."""
    idx = torch.arange(4096)
    floor_log2 = idx - 2048 - 1023
    t = (frac_bits - floor_log2).clamp(min=0)
    fires = (idx > 2048) & (t <= T - 1)
    return torch.where(fires, t, NO_SPIKE).to(torch.uint8)


def check_images(pixels: torch.Tensor, art: ModelArtifact) -> None:
    if pixels.dtype != torch.uint8 or tuple(pixels.shape[1:]) != tuple(art.input_shape):
        raise ValueError(f"images must be uint8 N x {'x'.join(map(str, art.input_shape))}, "
                         f"got {pixels.dtype} {tuple(pixels.shape)}")


def layer_setup(art: ModelArtifact, i: int, l, in_frac: int, max_in: int):
    """(layer, ExactPlan, reach, shift) of layer i whose inputs are integers up to ``max_in``
    in units of 2^-in_frac: the weights' exact float32 plan, each input's synapse count, and
    the shift that puts input x weight in units of 2^-F."""
    shift = art.frac_bits - in_frac - WEIGHT_EXP_MAX - l.k
    assert shift >= 0  # guaranteed by the artifact's F check
    w = weight_ints(l.codes)
    plan = exact_plan(w if l.kind == "conv3x3" else w.t(), max_in, powers_of_two=i > 0)
    nz = decode_weight_codes(l.codes)[2].float()
    if l.kind == "conv3x3":
        # reach[c, y, x]: synapses (nonzero weights) an input at (c, y, x) drives, taps
        # falling off the map excluded
        ones = torch.ones(1, l.out_channels, l.in_height, l.in_width)
        reach = Fn.conv_transpose2d(ones, nz, padding=1)[0].flatten()
    else:
        reach = nz.sum(0)
    return l, plan, reach.double(), shift


class ReferenceSNN:
    def __init__(self, art: ModelArtifact):
        self.art = art
        self.t_table = spike_time_table(art.frac_bits, art.T)
        # spike time -> integer input value of the next layer, 2^(T-1-t) (units of 2^-(T-1))
        self.x_table = spike_value_int(self.t_table, art.T).float()  # exact: <= 2^15
        self.layers = [layer_setup(art, i, l, PIXEL_FRAC_BITS if i == 0 else art.T - 1,
                                   255 if i == 0 else 1 << (art.T - 1))
                       for i, l in enumerate(art.layers)]

    @torch.no_grad()
    def run(self, pixels: torch.Tensor) -> SNNResult:
        """pixels: uint8 (N, 3, 32, 32)."""
        art = self.art
        check_images(pixels, art)
        n = pixels.shape[0]
        x = pixels.float()  # layer input: integers (exact in float32) in units of 2^-in_frac
        times, ev_in, sops, spikes = [], [], [], []
        for l, plan, reach, shift in self.layers:
            events = (x != 0).flatten(1)
            ev_in.append(events.sum(1))
            sops.append((events.to(torch.float64) @ reach).to(torch.int64))
            if l.kind == "conv3x3":
                v = exact_synaptic_sum(x, plan, lambda a, w: Fn.conv2d(a, w, padding=1), shift)
            else:
                v = exact_synaptic_sum(x.flatten(1), plan, torch.matmul, shift)
            v += l.bias.double().view(1, -1, *([1] * (v.dim() - 2)))
            if not l.fires:
                spikes.append(torch.zeros(n, dtype=torch.int64))
                potentials = v.to(torch.int64)
                break
            threshold = float(2 ** (art.frac_bits - (art.T - 1)))
            spikes.append((v >= threshold).flatten(1).sum(1))
            if l.pool:  # earliest spike in the window = largest potential (t falls as v grows)
                v = Fn.max_pool2d(v, 2)
            idx = exponent_index(v)
            times.append(self.t_table[idx])
            x = self.x_table[idx]
        return SNNResult(times, potentials, torch.stack(ev_in, 1), torch.stack(sops, 1),
                         torch.stack(spikes, 1))
