"""Differentiable (straight-through) versions of the log-TTFS neuron and the 5-bit log weights.

Forward passes use the exact definitions of catsnn.numerics, so the trained ANN *is* the SNN;
backward passes use straight-through estimators.
"""
from __future__ import annotations

import torch

from catsnn.numerics import (NO_SPIKE, quantize_weight_codes, spike_time_from_value,
                             spike_value, weight_exponent_offset, weight_values)


def _nearest_power_value(x: torch.Tensor, T: int) -> torch.Tensor:
    """The 'round' firing rule, kept for the measurement in docs/numerics.md only: the leading
    one plus the bit below it, i.e. the nearest power of two (midpoint 1.5 * 2^n), clipped to
    1, zero where that is below 2^-(T-1). Not part of the artifact format."""
    assert x.dtype == torch.float32
    bits = x.view(torch.int32)
    lead = (bits & -8388608).view(torch.float32)
    lead = torch.where((bits & 0x400000) != 0, lead * 2, lead).clamp(max=1.0)
    return torch.where((x > 0) & (lead >= 2.0 ** -(T - 1)), lead, torch.zeros_like(lead))


def _leading_one_value(x: torch.Tensor, T: int) -> torch.Tensor:
    """2^floor(log2 x) clipped to [2^-(T-1), 1], 0 below 2^-(T-1): the log-TTFS spike value.

    Clearing the mantissa bits of an IEEE float keeps its leading one: that is 2^floor(log2 x)
    for any positive normal x, exactly (it equals spike_value(spike_time_from_value(x, T)), which
    the tests check), and far cheaper than log2/pow on every activation.
    """
    if x.dtype == torch.float32:
        lead = (x.view(torch.int32) & -8388608).view(torch.float32)  # 0xFF800000
    elif x.dtype == torch.float64:
        lead = (x.view(torch.int64) & -4503599627370496).view(torch.float64)  # 0xFFF0...
    else:
        return spike_value(spike_time_from_value(x, T), dtype=x.dtype)
    lead = lead.clamp(max=1.0)
    return torch.where(x >= 2.0 ** -(T - 1), lead, torch.zeros_like(lead))


class _LogTTFS(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, T, firing="floor", ste_upper=1.0):
        ctx.save_for_backward((x > 0) & (x < ste_upper))
        return (_leading_one_value if firing == "floor" else _nearest_power_value)(x, T)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None


def log_ttfs_activation(x: torch.Tensor, T: int, firing: str = "floor",
                        ste_upper: float = 1.0) -> torch.Tensor:
    """Value of the spike time the neuron fires at: 2^-t, 0 if it does not fire within T steps.

    Backward: gradient 1 where 0 < x < ste_upper: a clipped-ReLU straight-through estimator for
    the default 1. A larger ste_upper also passes gradient through neurons saturated at t = 0
    (x >= 1), which otherwise get none (an experiment: docs/training.md).
    """
    if not x.requires_grad:
        return (_leading_one_value if firing == "floor" else _nearest_power_value)(x, T)
    return _LogTTFS.apply(x, T, firing, ste_upper)


def coded_levels(coding, T: int) -> tuple[int, int]:
    """(s, M) of a timed coding's CAT activation: a neuron's total over the window is
    clip(floor(z * s + 1/2), 0, M) in units of the smallest spike value, and the activation the
    next layer sees is that total / s (per step for rate and burst, per period for phase)."""
    if coding.name == "phase":
        return (T // coding.period) << coding.period, coding.max_total(T)
    return T, coding.max_total(T)


class _Coded(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s, M):
        ctx.save_for_backward((x > 0) & (x < M / s))
        return torch.clamp(torch.floor(x * s + 0.5), 0, M) / s

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None


def coded_activation(x: torch.Tensor, coding, T: int) -> torch.Tensor:
    """The CAT activation of a rate, phase or burst neuron (docs/numerics.md, "Other neural
    codings"): a quantised clipped ReLU with the coding's levels, rounding like the SNN's
    half-threshold start; straight-through gradient 1 below the clip (QCFS-like)."""
    s, M = coded_levels(coding, T)
    if not x.requires_grad:
        return torch.clamp(torch.floor(x * s + 0.5), 0, M) / s
    return _Coded.apply(x, s, M)


def log5_values(w: torch.Tensor, k: int) -> torch.Tensor:
    """The nearest 5-bit logarithmic weights with offset k, as values (no gradient path)."""
    return weight_values(quantize_weight_codes(w, k), k, dtype=w.dtype)


def log5_quantize(w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Weights -> nearest 5-bit logarithmic weights (per-layer offset k), straight-through grad."""
    k = weight_exponent_offset(w)
    return w + (log5_values(w, k) - w).detach(), k


__all__ = ["log_ttfs_activation", "coded_activation", "log5_values", "log5_quantize", "NO_SPIKE"]
