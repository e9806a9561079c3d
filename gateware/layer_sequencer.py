"""The layer sequencer: runs the layer program, one entry (a layer, or a tile of one) after
another.

Per entry: LOAD the program's ``PROGRAM_WORDS`` words (decoded into ``params``); with external
weights, wait for (or make) the copy of the entry's weights into its half of the weight block
RAM (STAGE_COUNT, STAGE_START, STAGE); build the
P-entry table ``tab[p] = p * s_ci`` by additions (TABLE), INIT every membrane word to its
channel's bias (an fc entry's from word ``map_base``: its first group in the layer) (one word per cycle, bank-parallel), start the scanner and wait until the whole
datapath is empty (SCAN), start the fire unit if the layer fires (FIRE), then store the layer's
four counters (FINISH) and go on, or pause in step mode until ``resume``. With external
weights, between INIT and the scan the next entry's program words are read and its weights'
copy into the other half started (PREFETCH_*), so that it runs during the scan; a pause waits
for it (DRAIN). After the last entry
``done`` is set; the memories belong to the bus whenever the sequencer is idle or paused
(``halted``).

Counters per program entry (``core_config.COUNTERS``): cycles, input events, synaptic operations,
output spikes before pooling; ``cycles`` counts every cycle of the run (pauses excluded).
"""
from functools import reduce
from operator import add

from migen import Array, Cat, If, Module, Mux, Signal
from migen.genlib.fsm import FSM, NextState, NextValue

from catsnn.gateware.core_config import (COUNTERS, PROGRAM_WORDS, CoreConfig, clog2,
                                         lane_groups)
from catsnn.gateware.core_layouts import CoreWidths, layer_params


def popcount(bits):
    return reduce(add, [bits[i] for i in range(len(bits))])


class LayerSequencer(Module):
    def __init__(self, cfg: CoreConfig):
        P, w = cfg.pe, CoreWidths.of(cfg)
        LB = w.layer
        # interface: control
        self.start = Signal()             # pulse: run the program from layer 0
        self.resume = Signal()            # pulse: continue after a pause
        self.step_mode = Signal()         # pause after every layer
        self.nlayers = Signal(LB + 1)
        self.layer = Signal(8)            # the layer running (or just finished, when paused)
        self.busy = Signal()
        self.done = Signal()              # sticky: the last run finished
        self.paused = Signal()
        self.halted = Signal()            # idle or paused: the bus owns the memories
        self.cycles = Signal(32)          # cycles of the whole run
        # interface: the layer program memory (one cycle read latency)
        self.program_addr = Signal(LB + 4)
        self.program_data = Signal(32)
        # interface: the layer, to the other units
        self.params = lp = layer_params(w)
        self.tab = [Signal(w.waddr, name=f"tab{p}") for p in range(P)]
        # interface: INIT (bias bank read address; membrane write of the bias read)
        self.bias_addr = Signal(16)
        self.init_we = Signal()
        self.init_addr = Signal(w.maddr)
        # interface: the datapath
        self.scan_start = Signal()
        self.scanning = Signal()
        self.datapath_idle = Signal()     # scanner done and every stage empty
        self.fire_start = Signal()
        self.fire_done = Signal()
        # interface: activity, for the counters
        self.event = Signal()
        self.sop_valid = Signal()
        self.sop_lanes = Signal(P)
        self.spike_lanes = Signal(P)
        # interface: staging a layer's weights from external memory (external_weights only)
        self.stage_start = Signal()
        self.stage_src = Signal(32)       # byte address of the layer's first weight bus word
        self.stage_count = Signal(w.waddr + 1)
        self.stage_dst = Signal(w.waddr)  # the half of the weight block RAM it goes to
        self.stage_busy = Signal()
        # interface: the counter memory's write port
        self.counter_addr = Signal(LB + 2)
        self.counter_data = Signal(32)
        self.counter_we = Signal()

        # # #

        fields = [Signal(32, name=f"prog{i}") for i in range(PROGRAM_WORDS)]
        DB = w.dim
        self.comb += [
            lp.first.eq(fields[0][0]), lp.pool.eq(fields[0][1]), lp.fc.eq(fields[0][2]),
            lp.fires.eq(fields[0][3]), lp.out_map.eq(fields[0][4]), lp.T.eq(fields[0][8:13]),
            lp.base.eq(fields[0][16:24]), lp.frac.eq(fields[0][24:30]),
            lp.cin.eq(fields[1][:16]), lp.gin.eq(fields[1][16:]), lp.H.eq(fields[2][:DB]),
            lp.W.eq(fields[2][16:16 + DB]), lp.G.eq(fields[3][:16]), lp.HW.eq(fields[3][16:]),
            # external weights: word 4 is the entry's place in external memory, and its staged
            # copy is in the half of the block RAM of the entry's parity
            lp.wbase.eq(Mux(self.layer[0], cfg.weight_depth, 0) if cfg.external_weights
                        else fields[4]),
            lp.s_ci.eq(fields[5]), lp.s_word.eq(fields[6]),
            lp.bbase.eq(fields[7][:16]), lp.map_base.eq(fields[7][16:]),
        ]
        load_i = Signal(4)
        next_layer = Signal(8)
        self.comb += next_layer.eq(self.layer + 1)
        pf_i = Signal(4)             # prefetch: the next entry's program words being read
        prefetching = Signal()
        self.comb += self.program_addr.eq(Mux(prefetching, Cat(pf_i[:3], next_layer[:LB]),
                                              Cat(load_i[:3], self.layer[:LB])))
        tab_i, tab_acc = Signal(7), Signal(w.waddr)
        tab_a = Array(self.tab)
        init_g, init_pos = Signal(16), Signal(16)
        init_addr, bias_rd = self.init_addr, self.bias_addr
        cnt_i = Signal(3)
        stage_i = Signal(16)
        prefetched = Signal()        # the next entry's weights are staged (or being staged)

        self.submodules.fsm = fsm = FSM(reset_state="IDLE")
        fsm.act("IDLE",
            If(self.start,
                NextValue(self.layer, 0), NextValue(self.cycles, 0), NextValue(self.done, 0),
                NextValue(prefetched, 0), NextState("LOAD"), NextValue(load_i, 0)
            )
        )
        fsm.act("LOAD",     # word i is read at cycle i and captured at cycle i + 1
            NextValue(load_i, load_i + 1),
            *[If(load_i == i + 1, NextValue(fields[i], self.program_data))
              for i in range(PROGRAM_WORDS)],
            If(load_i == PROGRAM_WORDS,
                NextValue(tab_i, 0), NextValue(tab_acc, 0), NextValue(stage_i, 0),
                NextValue(self.stage_count, 0),
                # external weights: staged during the previous entry's scan, or now
                If(prefetched, NextValue(prefetched, 0), NextState("STAGE")).Else(
                    NextState("STAGE_COUNT")) if cfg.external_weights else NextState("TABLE"))
        )
        D, G = cfg.weight_depth, lane_groups(P)
        if cfg.external_weights:
            fsm.act("STAGE_COUNT",      # C_in x stride by additions: the entry's weight words
                NextValue(stage_i, stage_i + 1),
                NextValue(self.stage_src, fields[4] * (4 * G)),
                NextValue(self.stage_dst, Mux(self.layer[0], D, 0)),
                If(stage_i == lp.cin, NextState("STAGE_START")).Else(
                    NextValue(self.stage_count, self.stage_count + lp.s_ci))
            )
            fsm.act("STAGE_START", self.stage_start.eq(1), NextState("STAGE"))
            fsm.act("STAGE", If(~self.stage_busy, NextState("TABLE")))
            # while this entry scans, the next one's weights go into the other half: read its
            # program words 1 (C_in), 4 (place) and 5 (stride), count its words, start the copy
            pf_cin, pf_src, pf_sci = Signal(16), Signal(32), Signal(w.waddr)
            self.comb += prefetching.eq(fsm.ongoing("PREFETCH_LOAD"))
            fsm.act("PREFETCH_LOAD",
                NextValue(pf_i, pf_i + 1),
                If(pf_i == 2, NextValue(pf_cin, self.program_data[:16])),
                If(pf_i == 5, NextValue(pf_src, self.program_data * (4 * G))),
                If(pf_i == 6, NextValue(pf_sci, self.program_data),
                   NextValue(stage_i, 0), NextValue(self.stage_count, 0),
                   NextState("PREFETCH_COUNT"))
            )
            fsm.act("PREFETCH_COUNT",
                NextValue(stage_i, stage_i + 1),
                If(stage_i == pf_cin,
                    NextValue(self.stage_src, pf_src),
                    NextValue(self.stage_dst, Mux(self.layer[0], 0, D)),
                    NextState("PREFETCH_START")
                ).Else(NextValue(self.stage_count, self.stage_count + pf_sci))
            )
            fsm.act("PREFETCH_START", self.stage_start.eq(1), NextValue(prefetched, 1),
                    NextState("SCAN_START"))
            # the bus owns the memories when the core halts: no copy may still be writing
            fsm.act("DRAIN", If(~self.stage_busy, NextState("PAUSED")))
        fsm.act("TABLE",
            NextValue(tab_a[tab_i[:max(1, clog2(P))]], tab_acc),
            NextValue(tab_acc, tab_acc + lp.s_ci), NextValue(tab_i, tab_i + 1),
            If(tab_i == P - 1,
                NextValue(init_g, 0), NextValue(init_pos, 0),
                # a tile of an fc layer: its groups' membranes from their place in the layer
                NextValue(init_addr, Mux(lp.fc, lp.map_base, 0)),
                NextValue(bias_rd, lp.bbase), NextState("INIT_BIAS"))
        )
        fsm.act("INIT_BIAS", NextState("INIT"))        # bias read latency
        fsm.act("INIT",
            self.init_we.eq(1),
            NextValue(init_addr, init_addr + 1),
            If(init_pos == Mux(lp.fc, 0, lp.HW - 1),
                NextValue(init_pos, 0), NextValue(init_g, init_g + 1),
                NextValue(bias_rd, bias_rd + 1),
                If(init_g == lp.G - 1,
                    NextValue(pf_i, 0),
                    # external weights: prefetch the next entry's, if there is one
                    If(next_layer < self.nlayers, NextState("PREFETCH_LOAD")).Else(
                        NextState("SCAN_START")) if cfg.external_weights else
                    NextState("SCAN_START")
                ).Else(NextState("INIT_BIAS"))
            ).Else(NextValue(init_pos, init_pos + 1))
        )
        fsm.act("SCAN_START", self.scan_start.eq(1), NextState("SCAN"))
        fsm.act("SCAN",
            If(self.datapath_idle,
                If(lp.fires, NextState("FIRE_START")).Else(NextState("FINISH"),
                                                           NextValue(cnt_i, 0)))
        )
        fsm.act("FIRE_START", self.fire_start.eq(1), NextState("FIRE"))
        fsm.act("FIRE", If(self.fire_done, NextState("FINISH"), NextValue(cnt_i, 0)))
        fsm.act("FINISH",    # store this layer's counters, then the next layer
            NextValue(cnt_i, cnt_i + 1),
            If(cnt_i == len(COUNTERS) - 1,
                If(self.layer == self.nlayers - 1,
                    NextValue(self.done, 1), NextState("IDLE")
                ).Elif(self.step_mode,
                    NextState("DRAIN" if cfg.external_weights else "PAUSED")
                ).Else(
                    NextValue(self.layer, self.layer + 1), NextValue(load_i, 0),
                    NextState("LOAD"))
            )
        )
        fsm.act("PAUSED",
            If(self.resume,
                NextValue(self.layer, self.layer + 1), NextValue(load_i, 0), NextState("LOAD"))
        )
        self.comb += [
            self.scanning.eq(fsm.ongoing("SCAN")),
            self.halted.eq(fsm.ongoing("IDLE") | fsm.ongoing("PAUSED")),
            self.busy.eq(~self.halted), self.paused.eq(fsm.ongoing("PAUSED")),
        ]

        # ---------------- counters ----------------
        c_cycles, c_events, c_sops, c_spikes = (Signal(32) for _ in range(4))
        counters_reset = Signal()
        self.comb += counters_reset.eq(fsm.ongoing("LOAD") & (load_i == PROGRAM_WORDS))
        self.sync += If(~self.halted, self.cycles.eq(self.cycles + 1))
        self.sync += If(counters_reset,
            c_cycles.eq(0), c_events.eq(0), c_sops.eq(0), c_spikes.eq(0)
        ).Else(
            c_cycles.eq(c_cycles + 1),
            If(self.event, c_events.eq(c_events + 1)),
            If(self.sop_valid, c_sops.eq(c_sops + popcount(self.sop_lanes))),
            c_spikes.eq(c_spikes + popcount(self.spike_lanes)),
        )
        self.comb += [
            self.counter_data.eq(Array([c_cycles, c_events, c_sops, c_spikes])[cnt_i[:2]]),
            self.counter_addr.eq(Cat(cnt_i[:2], self.layer[:LB])),
            self.counter_we.eq(fsm.ongoing("FINISH")),
        ]
