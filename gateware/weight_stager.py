"""The weight stager: copies a run of weight words from external memory into the weight block
RAM (the first unit of the DRAM path, docs: the DRAM issue's plan in gateware/README.md).

External memory holds weights as the model image does: a weight word of P 5-bit lanes is G =
ceil(P / 6) consecutive 32-bit bus words, six lanes (30 bits) in each, lane 0 in bits 0-4 of the
first. ``start`` (a pulse) copies ``count`` weight words from byte address ``src`` to block-RAM
words ``dst`` .. ``dst + count - 1``; ``busy`` is high until the last one is written. The bus
is a Wishbone master (classic cycles, one word per acknowledge), so that in the SoC it reaches
LiteDRAM through the main bus, and in a unit test any slave with any latency.
"""
from migen import Cat, If, Module, Signal
from migen.genlib.fsm import FSM, NextState, NextValue

from litex.soc.interconnect import wishbone

from catsnn.gateware.core_config import LANES_PER_WORD, CoreConfig, clog2, lane_groups


class WeightStager(Module):
    def __init__(self, cfg: CoreConfig):
        P, G = cfg.pe, lane_groups(cfg.pe)
        AB = clog2(cfg.weight_memory_depth)
        # interface: the copy
        self.start = Signal()
        self.src = Signal(32)             # byte address of the first bus word
        self.count = Signal(AB + 1)       # weight words
        self.dst = Signal(AB)             # first block-RAM word
        self.busy = Signal()
        # interface: external memory (Wishbone master, 32-bit words)
        self.bus = bus = wishbone.Interface(data_width=32)
        # interface: the weight block RAM's write port
        self.waddr = Signal(AB)
        self.wdata = Signal(5 * P)
        self.we = Signal()

        # # #

        adr = Signal(30)                  # word address of the next bus read
        left = Signal(AB + 1)             # weight words still to write
        group = Signal(max(1, clog2(G)))  # lane group of the word being read
        stage = [Signal(5 * LANES_PER_WORD, name=f"stage{j}") for j in range(G - 1)]
        wptr = Signal(AB)
        self.comb += self.wdata.eq(Cat(*stage, bus.dat_r))
        self.comb += self.waddr.eq(wptr)

        self.submodules.fsm = fsm = FSM(reset_state="IDLE")
        fsm.act("IDLE",
            If(self.start & (self.count != 0),
                NextValue(adr, self.src[2:]), NextValue(left, self.count),
                NextValue(wptr, self.dst), NextValue(group, 0),
                NextState("READ"))
        )
        fsm.act("READ",
            self.busy.eq(1),
            bus.cyc.eq(1), bus.stb.eq(1), bus.we.eq(0), bus.sel.eq(0xF), bus.adr.eq(adr),
            If(bus.ack,
                NextValue(adr, adr + 1),
                If(group == G - 1,
                    # the last group: the whole word goes into the block RAM this cycle
                    self.we.eq(1),
                    NextValue(group, 0), NextValue(wptr, wptr + 1), NextValue(left, left - 1),
                    If(left == 1, NextState("IDLE"))
                ).Else(
                    NextValue(group, group + 1)
                ))
        )
        for j in range(G - 1):
            self.sync += If(fsm.ongoing("READ") & bus.ack & (group == j),
                            stage[j].eq(bus.dat_r[:5 * LANES_PER_WORD]))
