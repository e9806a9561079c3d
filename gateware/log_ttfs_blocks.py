"""Building blocks of the log-TTFS processor, in Migen: no multiplier anywhere.

Each is a plain Module with its interface first, used as is by ``log_ttfs_core.LogTTFSCore`` and
unit-tested in Migen's simulator by tests/test_gateware_blocks.py against a software model:

* ``ShiftAddPE``: one lane of the synapse engine: stage 1 registers the synaptic term
  ``+-(x << (base - t - c))`` of a weight code (a barrel shift; ``base = F - k`` of the layer;
  x = pixel with t = 8, or 1 for a spike at t), stage 2 adds it to the membrane potential it is
  given (combinational, so the core can feed it from memory or from its forwarding register).
* ``TapAddressGenerator``: one input event -> one operation per (tap that lands on the output
  map, group of P output channels): weight word and membrane word addresses, by additions only
  (LiteX streams in and out).
* ``LeadingOneEncoder``: potential -> spike time (floor rule), the model's F and T at run time.
"""
from migen import If, Module, Mux, Signal

from litex.soc.interconnect import stream


class ShiftAddPE(Module):
    def __init__(self, acc_bits=36, base_bits=8):
        # interface
        self.valid = Signal()                     # stage 1: an operation for this lane
        self.x = Signal(8)                        # pixel value, or 1 for a spike
        self.t = Signal(5)                        # spike time (8 for pixels)
        self.code = Signal(5)                     # 5-bit log weight code: sign | c
        self.base = Signal(base_bits)             # F - k of the layer
        self.active = Signal()                    # stage 2: the registered op adds a term
        self.v_in = Signal((acc_bits, True))      # stage 2: potential before
        self.v_out = Signal((acc_bits, True))     # stage 2: potential after (combinational)

        # # #

        c = self.code[:4]
        shift = Signal(base_bits)
        term1 = Signal(acc_bits)
        self.comb += [shift.eq(self.base - self.t - c),
                      term1.eq(self.x << shift)]  # a barrel shifter, not a multiplier
        term, negative = Signal(acc_bits), Signal()
        self.sync += [term.eq(term1), negative.eq(self.code[4]),
                      self.active.eq(self.valid & (c != 15))]
        self.comb += self.v_out.eq(Mux(self.active,
                                       Mux(negative, self.v_in - term, self.v_in + term),
                                       self.v_in))


class TapAddressGenerator(Module):
    """Events in, operations out, one per cycle, no bubble between events (both LiteX streams:
    ``sink`` of ``core_layouts.event_layout``, ``source`` of ``tap_op_layout``). For a conv event
    at (y, x) (linear position pos = y*W + x, weight row w = the address of its input channel's
    tap 0, group 0): taps (ky, kx) in row order with output position (y - ky + 1, x - kx + 1) on
    the map, then groups g = 0..G-1: weight address ``w + (3*ky + kx)*G + g``, membrane address
    ``g*H*W + (y-ky+1)*W + x-kx+1``. For an fc event: ``w + g`` and ``mbase + g`` (a tile of
    an fc layer keeps its groups' potentials at their place in the layer). An operation stays
    on ``source`` until it is taken (``ready``)."""
    def __init__(self, pos_bits, dim_bits, waddr_bits, maddr_bits):
        # interface: layer parameters
        self.fc = Signal()
        self.H, self.W = Signal(dim_bits), Signal(dim_bits)
        self.G, self.HW = Signal(16), Signal(16)
        self.mbase = Signal(16)       # fc: the membrane word of the entry's first group
        # interface: event stream in, operation stream out
        self.sink = stream.Endpoint([("pos", pos_bits), ("y", dim_bits), ("x", dim_bits),
                                     ("mag", 8), ("t", 5), ("w", waddr_bits)])
        self.source = stream.Endpoint([("waddr", waddr_bits), ("maddr", maddr_bits + 1),
                                       ("mag", 8), ("t", 5)])

        # # #

        ev, op = self.sink, self.source
        G, H, W, fc = self.G, self.H, self.W, self.fc
        ky, kx, ky_hi, kx_hi, kx_lo = Signal(2), Signal(2), Signal(2), Signal(2), Signal(2)
        g = Signal(16)
        MB = maddr_bits + 1
        row_wa, tap_m, row_m = Signal(waddr_bits), Signal(MB), Signal(MB)
        G3 = Signal(waddr_bits)
        self.comb += G3.eq(G + (G << 1))
        last_g, last_op = Signal(), Signal()
        self.comb += [last_g.eq(g == G - 1),
                      last_op.eq(last_g & (fc | ((kx == kx_hi) & (ky == ky_hi))))]
        step = Signal()             # the operation on source leaves this cycle
        self.comb += step.eq(op.valid & op.ready)
        self.comb += ev.ready.eq(ev.valid & (~op.valid | (last_op & op.ready)))
        # tap range of the new event: the output row oy = y - ky + 1 must be on the map
        n_kylo, n_kxlo = Signal(2), Signal(2)
        self.comb += [n_kylo.eq(ev.y == H - 1), n_kxlo.eq(ev.x == W - 1)]
        n_row_m = Signal(MB)     # first tap row's membrane position: pos + W + 1 - ky*W
        self.comb += n_row_m.eq(ev.pos + W + 1 - Mux(n_kylo, W, 0))
        gstride = Signal(16)
        self.comb += gstride.eq(Mux(fc, 1, self.HW))
        cur_w, cur_m = op.waddr, op.maddr
        self.sync += [
            If(ev.ready,
                op.valid.eq(1), op.mag.eq(ev.mag), op.t.eq(ev.t), g.eq(0),
                ky.eq(n_kylo), kx.eq(n_kxlo), kx_lo.eq(n_kxlo),
                ky_hi.eq(Mux(ev.y == 0, 1, 2)), kx_hi.eq(Mux(ev.x == 0, 1, 2)),
                If(fc,
                    cur_w.eq(ev.w), row_wa.eq(ev.w), cur_m.eq(self.mbase), tap_m.eq(0),
                    row_m.eq(0)
                ).Else(
                    row_wa.eq(ev.w + Mux(n_kylo, G3, 0)),
                    cur_w.eq(ev.w + Mux(n_kylo, G3, 0) + Mux(n_kxlo, G, 0)),
                    row_m.eq(n_row_m),
                    tap_m.eq(n_row_m - n_kxlo), cur_m.eq(n_row_m - n_kxlo),
                )
            ).Elif(step,
                If(~last_g,
                    g.eq(g + 1), cur_w.eq(cur_w + 1), cur_m.eq(cur_m + gstride)
                ).Elif(last_op,
                    op.valid.eq(0)
                ).Elif(kx != kx_hi,      # next tap in the row: (tap+1)*G is the next word
                    g.eq(0), kx.eq(kx + 1), cur_w.eq(cur_w + 1),
                    tap_m.eq(tap_m - 1), cur_m.eq(tap_m - 1)
                ).Else(                  # next row of taps
                    g.eq(0), ky.eq(ky + 1), kx.eq(kx_lo),
                    row_wa.eq(row_wa + G3), cur_w.eq(row_wa + G3 + Mux(kx_lo != 0, G, 0)),
                    row_m.eq(row_m - W), tap_m.eq(row_m - W - kx_lo),
                    cur_m.eq(row_m - W - kx_lo)
                )
            )
        ]


class LeadingOneEncoder(Module):
    """Combinational: potential -> spike time, with the model's F given at run time.

    For V > 0 of bit length L: t = F + 1 - L, clipped at 0 (V >= 1); a spike when t <= T - 1.
    V <= 0 never fires. One leading-one detector and one subtraction: no multiplier, no shifter.
    """
    def __init__(self, acc_bits, T_max=16):
        # interface
        self.v = Signal((acc_bits, True))
        self.F = Signal(6)                        # the model's fraction bits
        self.T = Signal(5)                        # time window of the model, 4..T_max
        self.t = Signal(4)
        self.fire = Signal()

        # # #

        # bit length of V (for V >= 0): the highest set bit below the sign, found by a tree of
        # 2:1 choices (log depth: a priority chain over 35 bits would be the critical path)
        any_one, pos = self._highest_one([self.v[i] for i in range(acc_bits - 1)])
        t_raw = Signal((8, True))                 # F + 1 - bit length = F - pos
        T_s = Signal((8, True))
        self.comb += [t_raw.eq(self.F - pos), T_s.eq(self.T)]
        self.comb += [
            self.fire.eq(~self.v[-1] & any_one & (t_raw < T_s)),
            self.t.eq(Mux(t_raw[-1], 0, t_raw)),
        ]

    def _highest_one(self, bits):
        """(any bit set, index of the highest set bit) of bits[0..n-1], as a balanced tree."""
        if len(bits) == 1:
            return bits[0], 0
        half = 1 << ((len(bits) - 1).bit_length() - 1)     # low part: a power of two
        any_lo, pos_lo = self._highest_one(bits[:half])
        any_hi, pos_hi = self._highest_one(bits[half:])
        any_one, pos = Signal(), Signal(max=len(bits))
        self.comb += [any_one.eq(any_lo | any_hi),
                      pos.eq(Mux(any_hi, pos_hi + half, pos_lo))]
        return any_one, pos
