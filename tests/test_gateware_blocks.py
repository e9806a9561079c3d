"""Gateware blocks in Migen's simulator against the numerics (random vectors and edge values)."""
import random

import pytest
import torch

from migen import Array, Constant as Const, If, Module, Signal
from migen.sim import run_simulation

from catsnn.gateware.log_ttfs_blocks import LeadingOneEncoder, ShiftAddPE, TapAddressGenerator
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
    """Feed each op at stage 1, the running potential at stage 2 (as the core does)."""
    W = 52
    dut = ShiftAddPE(acc_bits=W)
    rng = random.Random(0)
    runs = []
    for _ in range(20):
        # base = F - k >= 15 + 14 (a spike at t = 15 with code 14 is not truncated);
        # the largest term 255 << (base - 8) and 44 of them fit in W
        base = rng.randrange(29, 44)
        bias = rng.randrange(-(1 << 44), 1 << 44)
        terms = []
        for _ in range(rng.randrange(0, 40)):
            pixel = rng.random() < 0.3
            x, t = (rng.randrange(256), 8) if pixel else (1, rng.randrange(16))
            code = rng.randrange(32)
            if code == 31:
                code = 15
            terms.append((x, t, code))
        # the edges: the largest pixel with the largest weight, and the smallest term
        terms += [(255, 8, 0), (255, 8, 16), (1, 15, 14), (1, 15, 30)]
        runs.append((base, bias, terms))

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
            v = bias
            yield dut.base.eq(base)
            for x, t, code in terms:
                yield dut.x.eq(x)            # stage 1: the op ...
                yield dut.t.eq(t)
                yield dut.code.eq(code)
                yield dut.valid.eq(1)
                yield
                yield dut.v_in.eq(v)         # ... stage 2: the potential it adds to
                yield
                v = yield dut.v_out
            got.append(v)

    run_simulation(dut, bench())
    for i, (run, g) in enumerate(zip(runs, got)):
        assert g == expect(*run), f"run {i}: expected {expect(*run)}, got {g}"


def tap_ops(H, W, G, HW, fc, y, x, w, mbase=0):
    """Software model of TapAddressGenerator: the (weight, membrane) addresses of one event
    (``mbase``: an fc tile's first membrane word)."""
    if fc:
        return [(w + g, mbase + g) for g in range(G)]
    ops = []
    for ky in range(3):
        for kx in range(3):
            oy, ox = y - ky + 1, x - kx + 1
            if 0 <= oy < H and 0 <= ox < W:
                ops += [(w + (3 * ky + kx) * G + g, g * HW + oy * W + ox) for g in range(G)]
    return ops


@pytest.mark.parametrize("H,W,G,fc,mbase", [(4, 4, 1, False, 0), (5, 3, 3, False, 0),
                                            (1, 6, 2, False, 0), (2, 2, 2, False, 0),
                                            (8, 8, 2, True, 0), (8, 8, 3, True, 5)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_tap_address_generator_matches_model(H, W, G, fc, mbase, stall):
    """Every op in order; with a consumer that never stalls, back to back (no bubble) from the
    first one; with one that stalls at random, an op waits on the stream until it is taken."""
    dut = TapAddressGenerator(pos_bits=12, dim_bits=6, waddr_bits=16, maddr_bits=12)
    rng = random.Random(H * 100 + W * 10 + G)
    events = [(y, x) for y in (0, H - 1) for x in (0, W - 1)]      # corners first
    events += [(rng.randrange(H), rng.randrange(W)) for _ in range(12)]
    events = [(y, x, rng.randrange(0, 500)) for y, x in events]
    want = [op for y, x, w in events for op in tap_ops(H, W, G, H * W, fc, y, x, w, mbase)]
    top = _EventSource(dut, events, H, W, G, fc, mbase)
    got = []
    run_simulation(top, bench_sampled(dut, want, got, rng, stall))
    assert got == want, next((f"op {j}: expected {a}, got {b}" for j, (a, b)
                              in enumerate(zip(want, got)) if a != b),
                             f"{len(got)} ops, expected {len(want)}")


def bench_sampled(dut, want, got, rng, stall):
    """Drive source.ready; record the op on the stream in every cycle where valid and ready
    are both high (a transfer). Migen's simulator: a value written before ``yield`` is seen by
    that clock edge, and reads after it return the values of the cycle before the edge."""
    limit = int((len(want) + 20) / (1 - stall)) + 20
    for _ in range(limit):
        ready = 1 if not stall else int(rng.random() >= stall)
        yield dut.source.ready.eq(ready)
        yield                                   # signals settle with the new ready
        if ready and (yield dut.source.valid):
            got.append(((yield dut.source.waddr), (yield dut.source.maddr)))
        if len(got) >= len(want) and stall:
            break


class _EventSource(Module):
    """Offers the events to the generator under test one after another (valid/ready)."""
    def __init__(self, dut, events, H, W, G, fc, mbase=0):
        self.submodules.dut = dut
        self.comb += [dut.fc.eq(fc), dut.H.eq(H), dut.W.eq(W), dut.G.eq(G), dut.HW.eq(H * W),
                      dut.mbase.eq(mbase)]
        i = Signal(max=len(events) + 1)
        pick = lambda vals, bits: Array([Const(v, bits) for v in vals + [0]])[i]  # noqa: E731
        ev = dut.sink
        self.comb += [
            ev.valid.eq(i < len(events)),
            ev.y.eq(pick([y for y, _, _ in events], 6)),
            ev.x.eq(pick([x for _, x, _ in events], 6)),
            ev.pos.eq(pick([y * W + x for y, x, _ in events], 12)),
            ev.w.eq(pick([w for _, _, w in events], 16)),
        ]
        self.sync += If(ev.ready & ev.valid, i.eq(i + 1))
