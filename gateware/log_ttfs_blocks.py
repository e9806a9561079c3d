"""Building blocks of the log-TTFS processor (issue 3), in Migen: no multiplier anywhere.

The core runs at a fixed hardware fraction F_hw >= every model's F: the host scales a model's
integers by 2^(F_hw - F) (biases; the shifts below absorb the rest), which leaves every spike time
unchanged (docs/numerics.md) and lets one bitstream run any model of the family.

* ``ShiftAddPE``: one processing element: a signed W-bit membrane accumulator that loads a bias
  and adds synaptic terms +-(x << s), s = base - t - c (base = F_hw - k per layer; for pixels
  x = p and t = 8, for spikes x = 1 and t the spike time).
* ``LeadingOneEncoder``: potential -> spike time, the leading-one detector (floor rule), with
  the model's F and T as run-time inputs.

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

        length = Signal(max=acc_bits + 1)         # bit length of V (for V >= 0)
        # later statements win: the highest set bit below the sign sets the length
        self.comb += [length.eq(0)] + [If(self.v[i], length.eq(i + 1))
                                       for i in range(acc_bits - 1)]
        t_raw = Signal((8, True))
        T_s = Signal((8, True))
        self.comb += [t_raw.eq(self.F + 1 - length), T_s.eq(self.T)]
        self.comb += [
            self.fire.eq(~self.v[-1] & (length != 0) & (t_raw < T_s)),
            self.t.eq(Mux(t_raw[-1], 0, t_raw)),
        ]
