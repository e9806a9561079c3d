"""The memory window: the core's one Wishbone slave (32-bit words).

The word address is ``region << region_shift | offset`` (``core_config``: ``REGION_*``,
``REG_*``). The unit decodes it into the bus side of every memory (address, write enable,
data), keeps the control registers (CTRL: start and continue pulses, step mode; NLAYERS), and
selects the read data, which is valid with ``ack`` one cycle after the request (the memories'
read latency). Memories wider than a bus word are reached in parts: a bias entry as a low and a
high word (the high write commits both), a weight or spike-map word as ``ceil(P/6)`` groups of
six 5-bit lanes (the last group's write commits the word). While the core runs (``halted`` low)
only the registers answer; memory reads return 0 and memory writes are dropped.
"""
from migen import Array, Cat, If, Module, Mux, Replicate, Signal

from litex.soc.interconnect import wishbone

from catsnn.gateware.core_config import (CTRL_CONTINUE, CTRL_START, CTRL_STEP, LANES_PER_WORD,
                                         PROGRAM_WORDS, REG_CTRL, REG_CYCLES, REG_NLAYERS,
                                         REG_PROGRAM, REG_STATUS, REGION_BIAS, REGION_COUNTERS,
                                         REGION_IMAGE, REGION_MAP0, REGION_MAP1,
                                         REGION_MEMBRANE, REGION_REGS, REGION_WEIGHT,
                                         STATUS_BUSY, STATUS_DONE, STATUS_PAUSED, CoreConfig,
                                         clog2, info_registers, lane_groups)
from catsnn.gateware.core_layouts import CoreWidths

REGS = 16          # register words before the layer program


def bit(mask):
    """The bit index of a one-bit mask such as CTRL_START."""
    assert mask and mask & (mask - 1) == 0
    return mask.bit_length() - 1


def indexed(entries: dict, n: int, width: int = 32):
    """entries {index: value} as a list of n, zeros elsewhere (for an Array mux)."""
    return [entries.get(i, Signal(width)) for i in range(n)]


class MemoryWindow(Module):
    def __init__(self, cfg: CoreConfig):
        P, A, w = cfg.pe, cfg.acc_bits, CoreWidths.of(cfg)
        rs = cfg.region_shift
        # interface: the bus
        self.bus = wishbone.Interface(data_width=32)
        # interface: control registers and status
        self.start = Signal()             # pulse: CTRL start written
        self.resume = Signal()            # pulse: CTRL continue written
        self.step_mode = Signal()         # CTRL step mode, as last written
        self.nlayers = Signal(w.layer + 1)
        self.halted, self.busy, self.done, self.paused = Signal(), Signal(), Signal(), Signal()
        self.layer = Signal(8)
        self.cycles = Signal(32)
        # interface: the bus side of the memories (addresses, writes; read data in)
        self.offset = Signal(rs)          # image, counters: the offset is the address
        self.weight_addr = Signal(clog2(cfg.weight_depth))
        self.weight_data = Signal(5 * P)
        self.weight_we = Signal()
        self.bias_addr = Signal(clog2(cfg.bias_depth))
        self.bias_data = Signal(A)
        self.bias_we = Signal(P)
        self.membrane_addr = Signal(clog2(cfg.membrane_depth))
        self.map_addr = Signal(clog2(cfg.map_depth))
        self.image_we = Signal()
        self.program_addr = Signal(rs)
        self.program_we = Signal()
        self.write_data = Signal(32)
        self.weight_rd = Signal(5 * P)
        self.bias_rd = [Signal(A, name=f"bias_rd{p}") for p in range(P)]
        self.membrane_rd = [Signal(A, name=f"membrane_rd{p}") for p in range(P)]
        self.map_rd = [Signal(5 * P, name=f"map_rd{k}") for k in range(2)]
        self.image_rd = Signal(8)
        self.program_rd = Signal(32)
        self.counter_rd = Signal(32)

        # # #

        wb = self.bus
        region, offset = Signal(3), self.offset
        self.comb += [region.eq(wb.adr[rs:rs + 3]), offset.eq(wb.adr[:rs]),
                      self.write_data.eq(wb.dat_w)]
        access = Signal()
        self.comb += access.eq(wb.cyc & wb.stb & ~wb.ack)
        wr = Signal()
        self.comb += wr.eq(access & wb.we)
        owned = self.halted

        def split(depth, two):
            sub = offset[1:] if two else offset
            db = clog2(depth)
            return sub[:db], sub[db:db + clog2(P)]
        # weights and maps: word index << lane_group_bits | group of LANES_PER_WORD lanes
        NG = lane_groups(P)
        GB = clog2(NG)
        lane_grp = offset[:GB]
        b_idx, b_bank = split(cfg.bias_depth, True)
        v_idx, v_bank = split(cfg.membrane_depth, True)
        hi = offset[0]
        self.comb += [self.weight_addr.eq(offset[GB:GB + clog2(cfg.weight_depth)]),
                      self.map_addr.eq(offset[GB:GB + clog2(cfg.map_depth)]),
                      self.bias_addr.eq(b_idx), self.membrane_addr.eq(v_idx)]

        # ---------------- writes ----------------
        lo_latch = Signal(32)
        self.sync += If(wr & ~hi & (region == REGION_BIAS), lo_latch.eq(wb.dat_w))
        self.comb += self.bias_data.eq(Cat(lo_latch, wb.dat_w))
        for p in range(P):
            self.comb += self.bias_we[p].eq(wr & hi & owned & (region == REGION_BIAS)
                                            & (b_bank == p))
        # weight words: groups 0..NG-2 are staged, the last one commits the whole word
        stage = [Signal(5 * LANES_PER_WORD, name=f"wstage{j}") for j in range(NG - 1)]
        w_wr = Signal()
        self.comb += w_wr.eq(wr & owned & (region == REGION_WEIGHT))
        for j in range(NG - 1):
            self.sync += If(w_wr & (lane_grp == j), stage[j].eq(wb.dat_w))
        self.comb += [self.weight_data.eq(Cat(*stage, wb.dat_w)),
                      self.weight_we.eq(w_wr & (lane_grp == NG - 1))]
        self.comb += self.image_we.eq(wr & owned & (region == REGION_IMAGE))
        is_prog = Signal()
        self.comb += [
            self.program_addr.eq(offset - REG_PROGRAM),
            is_prog.eq((region == REGION_REGS) & (offset >= REG_PROGRAM)
                       & (offset < REG_PROGRAM + cfg.max_layers * PROGRAM_WORDS)),
            self.program_we.eq(wr & owned & is_prog),
        ]

        # ---------------- registers ----------------
        ctrl_w = Signal()
        self.comb += ctrl_w.eq(wr & (region == REGION_REGS) & (offset == REG_CTRL))
        self.comb += [self.start.eq(ctrl_w & wb.dat_w[bit(CTRL_START)]),
                      self.resume.eq(ctrl_w & wb.dat_w[bit(CTRL_CONTINUE)])]
        self.sync += [
            If(ctrl_w, self.step_mode.eq(wb.dat_w[bit(CTRL_STEP)])),
            If(wr & (region == REGION_REGS) & (offset == REG_NLAYERS),
               self.nlayers.eq(wb.dat_w)),
        ]
        status_word = Signal(32)      # STATUS_* bits, the layer in bits 8..15
        self.comb += [status_word[bit(STATUS_BUSY)].eq(self.busy),
                      status_word[bit(STATUS_DONE)].eq(self.done),
                      status_word[bit(STATUS_PAUSED)].eq(self.paused),
                      status_word[8:16].eq(self.layer)]
        regs = {REG_STATUS: status_word, REG_NLAYERS: self.nlayers, REG_CYCLES: self.cycles}
        regs.update({k: Signal(32, reset=v) for k, v in info_registers(cfg).items()})
        reg_r = Signal(32)
        self.sync += reg_r.eq(Array(indexed(regs, REGS))[offset[:clog2(REGS)]])

        # ---------------- reads: selected at the request, valid with ack ----------------
        rsel_region, rsel_bank, rsel_hi, rsel_prog, rsel_reg = Signal(3), Signal(8), Signal(), \
            Signal(), Signal()
        self.sync += [
            wb.ack.eq(access),
            If(access,
                rsel_region.eq(region), rsel_hi.eq(hi), rsel_prog.eq(is_prog),
                rsel_reg.eq(offset < REGS),
                rsel_bank.eq(Array(indexed({REGION_BIAS: b_bank, REGION_WEIGHT: lane_grp,
                                            REGION_MEMBRANE: v_bank, REGION_MAP0: lane_grp,
                                            REGION_MAP1: lane_grp}, 8))[region]))
        ]

        def wide(dat):
            full = Signal(64)
            self.comb += full.eq(Cat(dat, Replicate(dat[-1], 64 - A)))
            return Mux(rsel_hi, full[32:], full[:32])
        bank_mux = lambda sigs: Array(sigs)[rsel_bank]  # noqa: E731

        def lanes(word):   # the group of LANES_PER_WORD lanes selected by the address
            return Array([word[5 * LANES_PER_WORD * j:5 * LANES_PER_WORD * (j + 1)]
                          for j in range(NG)])[rsel_bank]
        self.comb += wb.dat_r.eq(Mux(~owned & (rsel_region != REGION_REGS), 0,
            Array(indexed({
                REGION_REGS: Mux(rsel_prog, self.program_rd, Mux(rsel_reg, reg_r, 0)),
                REGION_IMAGE: self.image_rd,
                REGION_BIAS: bank_mux([wide(self.bias_rd[p]) for p in range(P)]),
                REGION_WEIGHT: lanes(self.weight_rd),
                REGION_MEMBRANE: bank_mux([wide(self.membrane_rd[p]) for p in range(P)]),
                REGION_MAP0: lanes(self.map_rd[0]),
                REGION_MAP1: lanes(self.map_rd[1]),
                REGION_COUNTERS: self.counter_rd,
            }, 8))[rsel_region]))
