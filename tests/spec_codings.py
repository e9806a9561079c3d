"""A slow, scalar, pure-Python transcription of docs/numerics.md "Other neural codings" (rate,
phase, burst), for small networks: Python ints, one neuron and one step at a time, nothing
shared with reference/coded_snn.py but the artifact."""
from __future__ import annotations


def term(inp: int, in_frac: int, code: int, k: int, F: int) -> int:
    c = code & 15
    if c == 15 or inp == 0:
        return 0
    mag = inp << (F - in_frac - c - k)
    return -mag if code & 16 else mag


def pixel_input(p: int, t: int, coding) -> int:
    """Layer 0's input at step t, units of 2^-8."""
    if coding.name != "phase":
        return p
    j = t % coding.period
    return ((p >> (7 - j)) & 1) << (7 - j) if j <= 7 else 0


def drive_conv(l, x, in_frac, F, co, y, xx):
    H, W = l.in_height, l.in_width
    codes = l.codes.tolist()
    d = 0
    for ci in range(l.in_channels):
        for dy in range(3):
            for dx in range(3):
                yy, xi = y + dy - 1, xx + dx - 1
                if 0 <= yy < H and 0 <= xi < W:
                    d += term(x[ci][yy][xi], in_frac, codes[co][ci][dy][dx], l.k, F)
    return d


def run(art, image):
    """image: [c][y][x] ints -> (per firing layer: totals [c][y][x] in units of S, potentials,
    per layer (input events, output spikes))."""
    c, F, T = art.coding, art.frac_bits, art.T
    K, B = c.period, c.max_burst
    unit = c.unit_exp
    C0, H0, W0 = art.input_shape
    # trains[t][ch][y][x]: the current layer's input at step t
    trains = [[[[pixel_input(image[ch][y][x], t, c) for x in range(W0)] for y in range(H0)]
               for ch in range(C0)] for t in range(T)]
    in_frac = 8
    totals, counts = [], []
    for l in art.layers:
        bias = l.bias.tolist()
        events = sum(1 for t in range(T) for ch in trains[t] for row in ch for v in row if v)
        if not l.fires:
            codes = l.codes.tolist()
            pots = []
            for o in range(l.out_channels):
                v = 0
                for t in range(T):
                    flat = [v_ for ch in trains[t] for row in ch for v_ in row]
                    if c.name != "phase" or t % K == 0:
                        v += bias[o]
                    v += sum(term(flat[i], in_frac, codes[o][i], l.k, F)
                             for i in range(l.in_channels))
                pots.append(v)
            counts.append((events, 0))
            return totals, pots, counts
        H, W = l.in_height, l.in_width
        out = [[[[0] * W for _ in range(H)] for _ in range(l.out_channels)] for _ in range(T)]
        fired = 0
        for co in range(l.out_channels):
            for y in range(H):
                for xx in range(W):
                    v = 1 << (F - unit - 1)
                    run_len = 0
                    for t in range(T):
                        j = t % K if c.name == "phase" else 0
                        v += drive_conv(l, trains[t], in_frac, F, co, y, xx)
                        if c.name != "phase" or j == 0:
                            v += bias[co]
                        if c.name == "rate":
                            thr, value = 1 << F, 1
                        elif c.name == "phase":
                            thr, value = 1 << (F - j - 1), 1 << (K - 1 - j)
                        else:
                            m = min(B, run_len)
                            thr, value = 1 << (F + m), 1 << m
                        if v >= thr:
                            v -= thr
                            out[t][co][y][xx] = value
                            fired += 1
                            run_len += 1
                        else:
                            run_len = 0
        if l.pool:
            pooled = []
            acc = [[[0] * W for _ in range(H)] for _ in range(l.out_channels)]
            for t in range(T):
                step = [[[0] * (W // 2) for _ in range(H // 2)] for _ in range(l.out_channels)]
                for ch in range(l.out_channels):
                    for y in range(H):
                        for xx in range(W):
                            acc[ch][y][xx] += out[t][ch][y][xx]
                    for y in range(H // 2):
                        for xx in range(W // 2):
                            members = [(2 * y + a, 2 * xx + b) for a in (0, 1) for b in (0, 1)]
                            best = members[0]
                            for m_ in members[1:]:
                                if acc[ch][m_[0]][m_[1]] > acc[ch][best[0]][best[1]]:
                                    best = m_
                            step[ch][y][xx] = out[t][ch][best[0]][best[1]]
                pooled.append(step)
            out = pooled
        totals.append([[[sum(out[t][ch][y][xx] for t in range(T))
                         for xx in range(len(out[0][0][0]))] for y in range(len(out[0][0]))]
                       for ch in range(l.out_channels)])
        counts.append((events, fired))
        trains, in_frac = out, unit
    raise AssertionError("network without a final fc layer")
