"""The log-TTFS numerics: the project's contract (see docs/numerics.md).

Everything here works on torch tensors. Two families of functions live side by side on purpose:

* integer functions (``*_int``): the definition used by the reference model and, later, the gateware;
* float functions used by the ANN during conversion-aware training.

They are written next to each other so a change to one is seen next to the other; the test-suite
checks that they agree on every value they can meet.
"""
from __future__ import annotations

import torch

# A neuron that never fires within its window. Chosen larger than any spike time so that
# 2x2 max pooling (earliest spike wins) is a plain minimum over spike times.
NO_SPIKE = 255

# 5-bit logarithmic weight code: bit 4 = sign, bits 3..0 = exponent code c.
# c = 0..14 means magnitude 2^-(c + k_layer); c = 15 means the weight is zero.
WEIGHT_CODE_BITS = 5
WEIGHT_EXP_MAX = 14
WEIGHT_ZERO_EXP = 15
WEIGHT_SIGN_BIT = 1 << 4

# Pixels of the first layer are fixed-point values p * 2^-8, p in 0..255.
PIXEL_FRAC_BITS = 8

T_MIN, T_MAX = 4, 16


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------
def _round_log2(mag: torch.Tensor) -> torch.Tensor:
    """Exponent p of the power of two nearest to ``mag`` (linear distance), for mag > 0.

    mag = m * 2^e with m in [0.5, 1): the neighbours are 2^(e-1) and 2^e, the midpoint is
    0.75 * 2^e. Exact: frexp does no rounding.
    """
    m, e = torch.frexp(mag)
    return (e - 1 + (m >= 0.75).to(e.dtype)).to(torch.int64)


def weight_exponent_offset(w: torch.Tensor) -> int:
    """Per-layer offset k: the largest weight magnitude maps to code c = 0 (2^-k)."""
    wmax = w.detach().abs().max()
    if wmax <= 0:
        return 0
    return int(-_round_log2(wmax.reshape(1).double())[0])


def quantize_weight_codes(w: torch.Tensor, k: int) -> torch.Tensor:
    """Float weights -> 5-bit log codes (uint8), nearest power of two in linear distance.

    Magnitudes above 2^-k saturate to 2^-k; below the smallest magnitude 2^-(14+k) a weight
    rounds to the smallest magnitude or to zero, whichever is nearer.
    """
    w = w.detach().double()
    mag = w.abs()
    safe = torch.where(mag > 0, mag, torch.ones_like(mag))
    c = (-_round_log2(safe) - k).clamp(min=0)
    smallest = 2.0 ** -(WEIGHT_EXP_MAX + k)
    zero = (mag < smallest / 2) | (mag == 0)
    c = torch.where(c > WEIGHT_EXP_MAX, torch.full_like(c, WEIGHT_EXP_MAX), c)
    c = torch.where(zero, torch.full_like(c, WEIGHT_ZERO_EXP), c)
    sign = ((w < 0) & ~zero).to(torch.int64) * WEIGHT_SIGN_BIT
    return (sign | c).to(torch.uint8)


def decode_weight_codes(codes: torch.Tensor):
    """codes -> (sign in {+1,-1}, exponent code c, nonzero mask), all int64 / bool."""
    codes = codes.to(torch.int64)
    c = codes & 0xF
    sign = torch.where((codes & WEIGHT_SIGN_BIT) != 0, -1, 1)
    return sign, c, c != WEIGHT_ZERO_EXP


def weight_values(codes: torch.Tensor, k: int, dtype=torch.float64) -> torch.Tensor:
    """codes -> exact float weights sign * 2^-(c+k) (0 for the zero code)."""
    sign, c, nonzero = decode_weight_codes(codes)
    val = sign.to(dtype) * torch.pow(torch.tensor(2.0, dtype=dtype), -(c + k).to(dtype))
    return torch.where(nonzero, val, torch.zeros_like(val))


def weight_ints(codes: torch.Tensor) -> torch.Tensor:
    """codes -> integer weights sign * 2^(14-c), i.e. in units of 2^-(14+k)."""
    sign, c, nonzero = decode_weight_codes(codes)
    val = sign * torch.bitwise_left_shift(torch.ones_like(c), (WEIGHT_EXP_MAX - c).clamp(min=0))
    return torch.where(nonzero, val, torch.zeros_like(val))


# --------------------------------------------------------------------------------------------
# Neuron: potential -> spike time
# --------------------------------------------------------------------------------------------
def spike_time_int(v: torch.Tensor, frac_bits: int, T: int) -> torch.Tensor:
    """Integer potential V (units of 2^-F) -> spike time (uint8), leading-one detector.

    t = 0 if V >= 1; t = k if 2^-k <= V < 2^-(k-1); NO_SPIKE if V < 2^-(T-1).
    For V > 0 with bit length L: V*2^-F lies in [2^(L-1-F), 2^(L-F)), so t = F + 1 - L.
    frexp of the int64 value converted to float64 gives L exactly while |V| < 2^53
    (the artifact loader guarantees the accumulator width is at most 53 bits).
    """
    v = v.to(torch.int64)
    _, bitlen = torch.frexp(v.clamp(min=1).double())
    t = (frac_bits + 1 - bitlen.to(torch.int64)).clamp(min=0)
    fires = (v > 0) & (t <= T - 1)
    return torch.where(fires, t, torch.full_like(t, NO_SPIKE)).to(torch.uint8)


def spike_time_from_value(x: torch.Tensor, T: int) -> torch.Tensor:
    """Float potential -> spike time (int64, NO_SPIKE if none); the float twin of spike_time_int.

    x = m * 2^e, m in [0.5, 1): floor(log2 x) = e - 1, so t = 1 - e (clamped at 0 for x >= 1).
    """
    _, e = torch.frexp(torch.where(x > 0, x, torch.ones_like(x)))
    t = (1 - e.to(torch.int64)).clamp(min=0)
    fires = (x > 0) & (t <= T - 1)
    return torch.where(fires, t, torch.full_like(t, NO_SPIKE))


def spike_value(t: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Spike time -> the value it carries: 2^-t, 0 for NO_SPIKE."""
    t = t.to(torch.int64)
    fires = t != NO_SPIKE
    val = torch.pow(torch.tensor(2.0, dtype=dtype), -t.clamp(max=64).to(dtype))
    return torch.where(fires, val, torch.zeros_like(val))


def spike_value_int(t: torch.Tensor, T: int) -> torch.Tensor:
    """Spike time -> integer value 2^(T-1-t), i.e. the spike value in units of 2^-(T-1)."""
    t = t.to(torch.int64)
    fires = t != NO_SPIKE
    val = torch.bitwise_left_shift(torch.ones_like(t), (T - 1 - t).clamp(min=0))
    return torch.where(fires, val, torch.zeros_like(val))


def required_frac_bits(T: int, k_first: int, k_hidden: list[int]) -> int:
    """Smallest F for which no synaptic term is ever truncated.

    A hidden-layer term is 2^-(t + c + k) with t <= T-1 and c <= 14; a first-layer term is
    p * 2^-(8 + c + k). F must also reach the last threshold 2^-(T-1).
    """
    need = [PIXEL_FRAC_BITS + WEIGHT_EXP_MAX + k_first, T - 1]
    need += [T - 1 + WEIGHT_EXP_MAX + k for k in k_hidden]
    return max(0, max(need))
