"""A slow, scalar, pure-Python transcription of docs/numerics.md, for small networks.

It shares nothing with the vectorised reference but the artifact: Python ints, one neuron and
one synapse at a time. The tests hold the reference model (and through it the ANN) to it.
"""
from __future__ import annotations

NO_SPIKE = 255


def fire(v: int, F: int, T: int) -> int:
    if v <= 0:
        return NO_SPIKE
    t = max(0, F + 1 - v.bit_length())
    return t if t <= T - 1 else NO_SPIKE


def term(inp: int, in_frac: int, code: int, k: int, F: int) -> int:
    c = code & 15
    if c == 15 or inp == 0:
        return 0
    mag = inp << (F - in_frac - c - k)  # exact: F >= in_frac + 14 + k
    return -mag if code & 16 else mag


def run(art, image):
    """image: nested lists [c][y][x] of ints 0..255 -> (spike maps per layer, potentials)."""
    F, T = art.frac_bits, art.T
    x, in_frac = image, 8
    maps = []
    for li, l in enumerate(art.layers):
        codes, bias = l.codes.tolist(), l.bias.tolist()
        if l.kind == "conv3x3":
            H, W = l.in_height, l.in_width
            t = [[[0] * W for _ in range(H)] for _ in range(l.out_channels)]
            for co in range(l.out_channels):
                for y in range(H):
                    for xx in range(W):
                        v = bias[co]
                        for ci in range(l.in_channels):
                            for dy in range(3):
                                for dx in range(3):
                                    yy, xi = y + dy - 1, xx + dx - 1
                                    if 0 <= yy < H and 0 <= xi < W:
                                        v += term(x[ci][yy][xi], in_frac,
                                                  codes[co][ci][dy][dx], l.k, F)
                        t[co][y][xx] = fire(v, F, T)
            if l.pool:
                t = [[[min(t[c][2 * y + a][2 * xx + b] for a in (0, 1) for b in (0, 1))
                       for xx in range(W // 2)] for y in range(H // 2)]
                     for c in range(l.out_channels)]
            maps.append(t)
            x = [[[0 if s == NO_SPIKE else 1 << (T - 1 - s) for s in row] for row in ch]
                 for ch in t]
            in_frac = T - 1
        else:
            flat = [v for ch in x for row in ch for v in row]  # NCHW flatten order
            pots = []
            for o in range(l.out_channels):
                v = bias[o] + sum(term(flat[i], in_frac, codes[o][i], l.k, F)
                                  for i in range(l.in_channels))
                pots.append(v)
            return maps, pots
    raise AssertionError("network without a final fc layer")
