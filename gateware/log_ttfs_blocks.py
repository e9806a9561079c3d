"""Building blocks of the log-TTFS processor (issue 3), in Migen: no multiplier anywhere.

The core runs at a fixed hardware fraction F_hw >= every model's F: the host scales a model's
integers by 2^(F_hw - F) (biases; the shifts below absorb the rest), which leaves every spike time
unchanged (docs/numerics.md) and lets one bitstream run any model of the family.

* ``ShiftAddPE``: one processing element: a signed W-bit membrane accumulator that loads a bias
  and adds synaptic terms +-(x << s), s = base - t - c (base = F_hw - k per layer; for pixels
  x = p and t = 8, for spikes x = 1 and t the spike time).
* ``LeadingOneEncoder``: potential -> spike time, the leading-one detector (floor rule).

Both are plain Modules with their interface first; tests/test_gateware_blocks.py drives them with
Migen's simulator against catsnn.numerics.
"""
from migen import If, Module, Mux, Signal


class ShiftAddPE(Module):
    def __init__(self, acc_bits=40, base_bits=7):
        # interface
        self.load = Signal()                      # acc <- bias
        self.bias = Signal((acc_bits, True))
        self.valid = Signal()                     # acc <- acc +- (x << (base - t - c))
        self.x = Signal(8)                        # pixel value, or 1 for a spike
        self.t = Signal(4 + 1)                    # spike time (8 for pixels)
        self.code = Signal(5)                     # 5-bit log weight code: sign | c
        self.base = Signal(base_bits)             # F_hw - k of the layer
        self.acc = Signal((acc_bits, True))

        # # #

        c = self.code[:4]
        negative = self.code[4]
        shift = Signal(base_bits + 1)
        self.comb += shift.eq(self.base - self.t - c)
        term = Signal((acc_bits, True))
        self.comb += term.eq(self.x << shift)     # a barrel shifter, not a multiplier
        self.sync += [
            If(self.load,
                self.acc.eq(self.bias)
            ).Elif(self.valid & (c != 15),
                self.acc.eq(Mux(negative, self.acc - term, self.acc + term))
            )
        ]


class LeadingOneEncoder(Module):
    """Combinational: t = 0 if V >= 2^F; t = F - p for the leading one at bit p in
    [F-T+1, F-1]; no spike (fire = 0) below 2^(F-T+1) or for V <= 0."""
    def __init__(self, acc_bits, frac_bits, T_max=16):
        # interface
        self.v = Signal((acc_bits, True))
        self.T = Signal(5)                        # time window of the model, 4..T_max
        self.t = Signal(4)
        self.fire = Signal()

        # # #

        F = frac_bits
        at_least_one = Signal()
        self.comb += at_least_one.eq(~self.v[-1] & (self.v[F:acc_bits - 1] != 0))
        # priority chain from the highest fractional bit down: the first one found wins
        t_found, fire = Signal(4), Signal()
        chain = None
        for k in range(T_max - 1, 0, -1):     # lowest priority first, highest last
            p = F - k
            if p < 0:
                continue
            stmt = If(self.v[p] & (k < self.T), t_found.eq(k), fire.eq(1))
            chain = stmt if chain is None else stmt.Else(chain)
        # defaults first; the nested If gives bit F-1 (k = 1) the highest priority
        self.comb += [t_found.eq(0), fire.eq(0)] + ([chain] if chain is not None else [])
        self.comb += [
            If(self.v[-1],
                self.fire.eq(0), self.t.eq(0)
            ).Elif(at_least_one,
                self.fire.eq(1), self.t.eq(0)
            ).Else(
                self.fire.eq(fire), self.t.eq(t_found)
            )
        ]
