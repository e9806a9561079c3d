"""The quantisers and the neuron: the integer definitions, their float twins and the fast paths
the reference and the training use must agree on every value, boundaries first."""
import torch
import pytest

from catsnn.numerics import (NO_SPIKE, decode_weight_codes, quantize_weight_codes,
                             required_frac_bits, spike_time_from_value, spike_time_int,
                             spike_value, spike_value_int, weight_exponent_offset, weight_ints,
                             weight_values)
from catsnn.reference.snn import exponent_index, spike_time_table
from catsnn.training.cat_layers import log5_quantize, log_ttfs_activation


def all_codes():
    return torch.tensor([s | c for s in (0, 16) for c in range(16) if not (s and c == 15)],
                        dtype=torch.uint8)


def test_weight_code_values_and_ints():
    codes = all_codes()
    for k in (-3, 0, 2):
        vals = weight_values(codes, k)
        sign, c, nz = decode_weight_codes(codes)
        for code, v in zip(codes.tolist(), vals.tolist()):
            cc = code & 15
            want = 0.0 if cc == 15 else (-1 if code & 16 else 1) * 2.0 ** -(cc + k)
            assert v == want, (code, k, v, want)
        # integer weights are the values in units of 2^-(14+k)
        assert torch.equal(weight_ints(codes).double(), vals * 2.0 ** (14 + k))


def nearest_candidate(w, k):
    cands = [0.0] + [s * 2.0 ** -(c + k) for c in range(15) for s in (1, -1)]
    return min(cands, key=lambda q: (abs(w - q), -abs(q)))  # ties: the larger magnitude


def test_quantiser_is_nearest_representable_value():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4000, generator=g, dtype=torch.float64) * 0.3
    w[:10] = torch.tensor([0.0, 1.0, -1.0, 0.75, 1.5, 2 ** -14, 2 ** -15, 2 ** -15.5, 3.0, -1e-9])
    k = 0
    q = weight_values(quantize_weight_codes(w, k), k)
    for wi, qi in zip(w.tolist(), q.tolist()):
        if abs(wi) > 1.0:  # saturates at the largest magnitude 2^-k
            assert qi == (1.0 if wi > 0 else -1.0)
        else:
            assert qi == nearest_candidate(wi, k), (wi, qi)


def test_quantiser_offset_and_zero_code_is_canonical():
    w = torch.tensor([0.3, -0.05, 0.0, 1e-12])
    k = weight_exponent_offset(w)
    assert k == 2  # 0.3 rounds to 2^-2
    codes = quantize_weight_codes(w, k)
    assert codes.tolist()[0] == 0  # the largest weight gets code c = 0
    assert (codes[2:] == 15).all()  # zero has one code, positive sign
    wq, k2 = log5_quantize(w.float())
    assert k2 == k and torch.equal(wq.double(), weight_values(codes, k).to(torch.float32).double())


def test_log5_quantize_straight_through_gradient():
    w = torch.tensor([0.3, -0.05, 0.7], requires_grad=True)
    wq, _ = log5_quantize(w)
    wq.sum().backward()
    assert torch.equal(w.grad, torch.ones(3))


@pytest.mark.parametrize("T", [4, 8, 16])
@pytest.mark.parametrize("F", [15, 20, 27])
def test_spike_time_boundaries(T, F):
    vals = [-(1 << F), -1, 0, 1, (1 << F) - 1, 1 << F, (1 << F) + 1, 1 << (F + 5)]
    for kk in range(0, min(T + 2, F + 1)):
        p = 1 << (F - kk)
        vals += [p - 1, p, p + 1]
    v = torch.tensor(vals, dtype=torch.int64)
    t = spike_time_int(v, F, T).tolist()
    for vi, ti in zip(vals, t):
        if vi < (1 << (F - (T - 1))):
            assert ti == NO_SPIKE, (vi, ti)
        elif vi >= 1 << F:
            assert ti == 0
        else:  # 2^-t <= V < 2^-(t-1)
            assert (1 << (F - ti)) <= vi < (1 << (F - ti + 1)), (vi, ti)
    # the float twin (training) and the IEEE-exponent table (reference) agree
    assert torch.equal(spike_time_from_value(v.double() * 2.0 ** -F, T).to(torch.uint8),
                       spike_time_int(v, F, T))
    assert torch.equal(spike_time_table(F, T)[exponent_index(v.double())], spike_time_int(v, F, T))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T", [4, 8, 16])
def test_activation_equals_spike_value_of_spike_time(dtype, T):
    g = torch.Generator().manual_seed(T)
    x = torch.cat([torch.randn(20000, generator=g, dtype=dtype) * 2,
                   2.0 ** -torch.arange(0, 20, dtype=dtype),
                   2.0 ** -torch.arange(0, 20, dtype=dtype) * (1 - 1e-6),
                   torch.tensor([0.0, 1.0, -1.0, 7.0], dtype=dtype)])
    assert torch.equal(log_ttfs_activation(x, T), spike_value(spike_time_from_value(x, T), dtype))


def test_activation_straight_through_gradient():
    x = torch.tensor([-0.5, 0.0, 0.01, 0.6, 0.999, 1.0, 3.0], requires_grad=True)
    log_ttfs_activation(x, 8).sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0, 0]
    # --ste-upper 4: saturated neurons (x >= 1) get the gradient too; the forward is unchanged
    y = x.detach().clone().requires_grad_(True)
    out = log_ttfs_activation(y, 8, ste_upper=4.0)
    assert torch.equal(out, log_ttfs_activation(x.detach(), 8))
    out.sum().backward()
    assert y.grad.tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_spike_values():
    t = torch.tensor([0, 1, 7, NO_SPIKE])
    assert spike_value(t, torch.float64).tolist() == [1.0, 0.5, 2.0 ** -7, 0.0]
    assert spike_value_int(t, 8).tolist() == [128, 64, 1, 0]


def test_required_frac_bits():
    # first layer: 8 + 14 + k0; hidden: T - 1 + 14 + k
    assert required_frac_bits(8, 0, [0, 3]) == 24
    assert required_frac_bits(8, 5, [0]) == 27
    assert required_frac_bits(16, -20, [-30]) == 15
