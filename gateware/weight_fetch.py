"""The weight fetch: each operation of the synapse engine gets its weight word.

``sink`` takes ``core_layouts.tap_op_layout`` operations (weight and membrane word addresses),
``source`` gives ``synapse_op_layout`` operations (the membrane address, the event's magnitude
and time, and the P weight codes read at ``waddr``). This unit reads the weight block RAM:
the read is issued in the cycle the operation is taken (stage 0), the word is registered with
the operation (stage 1: the block RAM's output drives no logic, for timing). It takes one
operation per cycle and never stalls; a fetch from DRAM is another unit with the same two
streams.
"""
from migen import Module, Signal

from litex.soc.interconnect import stream

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.core_layouts import CoreWidths, synapse_op_layout, tap_op_layout


class BlockRamWeightFetch(Module):
    def __init__(self, cfg: CoreConfig):
        w = CoreWidths.of(cfg)
        # interface: operations in and out
        self.sink = stream.Endpoint(tap_op_layout(w))
        self.source = stream.Endpoint(synapse_op_layout(w, cfg.pe))
        # interface: the weight memory's read port (one cycle latency)
        self.addr = Signal(w.waddr)
        self.word = Signal(5 * cfg.pe)
        self.idle = Signal()              # no operation inside

        # # #

        op, out = self.sink, self.source
        v0, m0, mag0, t0 = Signal(), Signal(w.maddr), Signal(8), Signal(5)
        self.comb += [op.ready.eq(1), self.addr.eq(op.waddr)]
        self.sync += [
            v0.eq(op.valid), m0.eq(op.maddr), mag0.eq(op.mag), t0.eq(op.t),
            out.valid.eq(v0), out.maddr.eq(m0), out.mag.eq(mag0), out.t.eq(t0),
            out.codes.eq(self.word),
        ]
        self.comb += self.idle.eq(~v0 & ~out.valid)
