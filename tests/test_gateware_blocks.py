"""Gateware blocks in Migen's simulator against the numerics (random vectors and edge values)."""
import random

import pytest
import torch

from migen.sim import run_simulation

from catsnn.gateware.log_ttfs_blocks import LeadingOneEncoder, ShiftAddPE
from catsnn.numerics import NO_SPIKE, spike_time_int


@pytest.mark.parametrize("T,F", [(4, 20), (8, 24), (16, 33), (8, 0), (16, 40)])
def test_leading_one_encoder_matches_spike_time_int(T, F):
    W = 36
    dut = LeadingOneEncoder(W)
    rng = random.Random(T)
    vals = [0, 1, -1, -(1 << (W - 1)), (1 << (W - 1)) - 1, 1 << F, (1 << F) - 1]
    for k in range(0, T + 2):
        if 0 <= F - k < W - 1:
            vals += [(1 << (F - k)) + d for d in (-1, 0, 1)]
    vals = [v for v in vals if -(1 << (W - 1)) <= v < 1 << (W - 1)]
    vals += [rng.randrange(-(1 << 30), 1 << 30) >> rng.randrange(0, 30) for _ in range(300)]
    want = spike_time_int(torch.tensor(vals), F, T).tolist()
    got = []

    def bench():
        yield dut.T.eq(T)
        yield dut.F.eq(F)
        for v in vals:
            yield dut.v.eq(v)
            yield
            fire, t = (yield dut.fire), (yield dut.t)
            got.append(t if fire else NO_SPIKE)

    run_simulation(dut, bench())
    for v, w, g in zip(vals, want, got):
        assert w == g, f"V={v}: expected spike time {w}, got {g}"


def test_shift_add_pe_accumulates_exact_terms():
    W, F_hw = 52, 36  # F_hw >= (T-1) + 14 + k for T = 16, k <= 3; 255 << 36 fits in W
    dut = ShiftAddPE(acc_bits=W)
    rng = random.Random(0)
    runs = []
    for _ in range(20):
        k = rng.randrange(-3, 4)
        bias = rng.randrange(-(1 << 44), 1 << 44)
        terms = []
        for _ in range(rng.randrange(0, 40)):
            pixel = rng.random() < 0.3
            x, t = (rng.randrange(256), 8) if pixel else (1, rng.randrange(16))
            code = rng.randrange(32)
            if code == 31:
                code = 15
            terms.append((x, t, code))
        runs.append((F_hw - k, bias, terms))

    def expect(base, bias, terms):
        v = bias
        for x, t, code in terms:
            c = code & 15
            if c != 15:
                v += (-1 if code & 16 else 1) * (x << (base - t - c))
        return v

    got = []

    def bench():
        for base, bias, terms in runs:
            yield dut.base.eq(base)
            yield dut.bias.eq(bias)
            yield dut.load.eq(1)
            yield
            yield dut.load.eq(0)
            for x, t, code in terms:
                yield dut.x.eq(x)
                yield dut.t.eq(t)
                yield dut.code.eq(code)
                yield dut.valid.eq(1)
                yield
            yield dut.valid.eq(0)
            yield
            got.append((yield dut.acc))

    run_simulation(dut, bench())
    for i, (run, g) in enumerate(zip(runs, got)):
        assert g == expect(*run), f"run {i}: expected {expect(*run)}, got {g}"
