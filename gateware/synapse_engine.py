"""The synapse engine: P shift-add lanes updating P membrane banks, one operation per cycle.

``sink`` takes ``core_layouts.synapse_op_layout`` operations (stage 1): lane p computes the term
``+-(mag << (base - t - c))`` of its weight code (``log_ttfs_blocks.ShiftAddPE``) while the
membrane word at ``maddr`` is read; stage 2 writes ``V + term`` back (read-modify-write). The
last write is forwarded when two consecutive operations hit the same word, so back-to-back
updates of one neuron are exact. Zero codes (15) cost a lane-cycle but are no synaptic
operation (``nonzero``). The engine takes an operation every cycle (``sink.ready`` is 1).
"""
from migen import If, Module, Mux, Signal

from litex.soc.interconnect import stream

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.core_layouts import CoreWidths, synapse_op_layout
from catsnn.gateware.log_ttfs_blocks import ShiftAddPE


class SynapseEngine(Module):
    def __init__(self, cfg: CoreConfig):
        P, A, w = cfg.pe, cfg.acc_bits, CoreWidths.of(cfg)
        # interface: operations in, the layer's base shift (F - k)
        self.sink = stream.Endpoint(synapse_op_layout(w, P))
        self.base = Signal(8)
        # interface: the membrane banks (read address in stage 1, data in stage 2)
        self.read_addr = Signal(w.maddr)
        self.read_data = [Signal((A, True), name=f"v_rd{p}") for p in range(P)]
        self.write_addr = Signal(w.maddr)
        self.write_data = [Signal((A, True), name=f"v_new{p}") for p in range(P)]
        self.write_en = Signal()
        self.nonzero = Signal(P)          # lanes that added a term (valid with write_en)
        self.idle = Signal()

        # # #

        op = self.sink
        v2, fwd2, m2 = Signal(), Signal(), Signal(w.maddr)
        self.comb += [op.ready.eq(1), self.read_addr.eq(op.maddr)]
        self.sync += [v2.eq(op.valid), m2.eq(op.maddr),
                      fwd2.eq(op.valid & v2 & (op.maddr == m2))]
        self.comb += [self.write_addr.eq(m2), self.write_en.eq(v2), self.idle.eq(~v2)]
        for p in range(P):
            pe = ShiftAddPE(A)
            self.submodules += pe
            vlast = Signal((A, True), name=f"vlast{p}")
            self.comb += [
                pe.valid.eq(op.valid), pe.x.eq(op.mag), pe.t.eq(op.t), pe.base.eq(self.base),
                pe.code.eq(op.codes[5 * p:5 * p + 5]),
                pe.v_in.eq(Mux(fwd2, vlast, self.read_data[p])),
                self.nonzero[p].eq(pe.active),
                self.write_data[p].eq(pe.v_out),
            ]
            self.sync += If(v2, vlast.eq(pe.v_out))
