"""The log-TTFS processor core: runs a whole conv3x3/fc log-TTFS SNN from a layer program.

Event-driven and multiplier-free. The core is a composition of named units, each in its own
module with a Migen-simulator test beside a software model (tests/test_core_units.py):

* ``LayerSequencer`` (layer_sequencer.py): the layer program, bias INIT, the per-layer counters,
  step mode.
* ``EventScanner`` (event_scanner.py): the layer input (image or spike map) -> an event stream.
* ``TapAddressGenerator`` (log_ttfs_blocks.py): an event -> one operation per (tap landing on
  the output map, group of P output channels).
* ``BlockRamWeightFetch`` (weight_fetch.py): an operation -> the operation with its P weight
  codes (the unit a DRAM fetch replaces).
* ``SynapseEngine`` (synapse_engine.py): P shift-add lanes, read-modify-write of P membranes.
* ``FireUnit`` (fire_unit.py): membranes -> spike times (leading-one detector), 2x2 pooling,
  the output spike map.
* ``MemoryWindow`` (memory_window.py): the Wishbone slave, control and status registers.

Data flows through LiteX streams (``core_layouts.py`` has their layouts)::

    scanner --event--> FIFO --> tap address generator --tap_op--> weight fetch
            --synapse_op--> synapse engine --> membranes --> fire unit --> spike map

This module owns the memories (sized by ``CoreConfig.memory_shapes``) and joins each memory's
ports to the units: the datapath while a layer runs, the memory window while the core is idle or
paused. There is no ``*`` in the design: every address is a counter stepped by additions of
strides the host precomputed (``placement.LayerPlan.program_words``).

Interface: one Wishbone slave (32-bit words) reaching the registers, layer program, image,
weights, biases, membranes, both spike maps and the per-layer counters (``core_config`` has the
map); ``busy``/``done``/``paused`` for a testbench. Step mode pauses after every layer so a host
can read that layer's spike map (bit-exact checks, debugging).
"""
from migen import Memory, Module, Mux, Signal, READ_FIRST

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.core_layouts import CoreWidths
from catsnn.gateware.event_scanner import EventScanner
from catsnn.gateware.fire_unit import FireUnit
from catsnn.gateware.layer_sequencer import LayerSequencer
from catsnn.gateware.log_ttfs_blocks import TapAddressGenerator
from catsnn.gateware.memory_window import MemoryWindow
from catsnn.gateware.synapse_engine import SynapseEngine
from catsnn.gateware.weight_fetch import BlockRamWeightFetch


class LogTTFSCore(Module):
    def __init__(self, cfg: CoreConfig = CoreConfig(), external_base: int = 0):
        """external_base: the byte address of weight word 0 on the external bus (a core with
        external weights: EXTERNAL_BASE in a SoC, 0 in the Verilator harness)."""
        P, w = cfg.pe, CoreWidths.of(cfg)
        self.cfg = cfg
        # interface
        self.submodules.window = window = MemoryWindow(cfg)
        self.bus = window.bus
        self.busy = Signal()          # running a program (not paused)
        self.done = Signal()          # sticky: the last run finished
        self.paused = Signal()        # step mode: a layer finished, waiting for continue

        # # #

        # ---------------- units ----------------
        self.submodules.sequencer = seq = LayerSequencer(cfg)
        self.submodules.scanner = scanner = EventScanner(cfg)
        self.submodules.taps = taps = TapAddressGenerator(w.pos, w.dim, w.waddr, w.maddr)
        self.submodules.weight_fetch = fetch = BlockRamWeightFetch(cfg)
        self.submodules.synapses = syn = SynapseEngine(cfg)
        self.submodules.fire = fire = FireUnit(cfg)
        lp = seq.params
        self.comb += [
            # control
            seq.start.eq(window.start), seq.resume.eq(window.resume),
            seq.step_mode.eq(window.step_mode), seq.nlayers.eq(window.nlayers),
            window.halted.eq(seq.halted), window.busy.eq(seq.busy), window.done.eq(seq.done),
            window.paused.eq(seq.paused), window.layer.eq(seq.layer),
            window.cycles.eq(seq.cycles),
            self.busy.eq(seq.busy), self.done.eq(seq.done), self.paused.eq(seq.paused),
            # the layer
            scanner.params.eq(lp), *[a.eq(b) for a, b in zip(scanner.tab, seq.tab)],
            taps.fc.eq(lp.fc), taps.H.eq(lp.H), taps.W.eq(lp.W), taps.G.eq(lp.G),
            taps.HW.eq(lp.HW), taps.mbase.eq(lp.map_base), syn.base.eq(lp.base),
            fire.pool.eq(lp.pool), fire.H.eq(lp.H), fire.W.eq(lp.W), fire.G.eq(lp.G),
            fire.T.eq(lp.T), fire.frac.eq(lp.frac), fire.map_base.eq(lp.map_base),
            scanner.start.eq(seq.scan_start), fire.start.eq(seq.fire_start),
            seq.fire_done.eq(fire.done),
            # the streams: events only while the sequencer scans
            taps.sink.valid.eq(scanner.source.valid & seq.scanning),
            taps.sink.payload.eq(scanner.source.payload),
            scanner.source.ready.eq(taps.sink.ready),
            taps.source.connect(fetch.sink),
            fetch.source.connect(syn.sink),
            seq.datapath_idle.eq(scanner.done & ~scanner.source.valid & ~taps.source.valid
                                 & fetch.idle & syn.idle & ~seq.scan_start),
            # activity
            seq.event.eq(scanner.event), seq.sop_valid.eq(syn.write_en),
            seq.sop_lanes.eq(syn.nonzero), seq.spike_lanes.eq(fire.spikes),
        ]

        # ---------------- memories (CoreConfig.memory_shapes: also the block RAM estimate) ----
        shapes = cfg.memory_shapes()

        def memories(name):
            width, depth, count = shapes[name]
            out = []
            for i in range(count):
                m = Memory(width, depth, name=name if count == 1 else f"{name}{i}")
                r, wp = m.get_port(mode=READ_FIRST), m.get_port(write_capable=True)
                self.specials += m, r, wp
                out.append((r, wp))
            return out
        (weights,), biases, membranes, maps = (memories("weights"), memories("biases"),
                                               memories("membranes"), memories("spike_map"))
        (image,), (program,), (counters,) = (memories("image"), memories("layer_program"),
                                             memories("layer_counters"))
        owned = seq.halted

        # ---------------- ports: the datapath while running, the window while halted ----------
        r, wp = weights
        self.comb += [r.adr.eq(Mux(owned, window.weight_addr, fetch.addr)),
                      fetch.word.eq(r.dat_r), window.weight_rd.eq(r.dat_r)]
        if cfg.external_weights:
            # the stager fills the weight block RAM from external memory before each layer
            from catsnn.gateware.weight_stager import WeightStager
            self.submodules.stager = stager = WeightStager(cfg)
            self.ext_bus = stager.bus         # interface: external memory (Wishbone master)
            self.comb += [
                stager.start.eq(seq.stage_start), stager.src.eq(seq.stage_src + external_base),
                stager.count.eq(seq.stage_count), stager.dst.eq(seq.stage_dst),
                seq.stage_busy.eq(stager.busy | seq.stage_start),
                wp.adr.eq(Mux(owned, window.weight_addr, stager.waddr)),
                wp.dat_w.eq(Mux(owned, window.weight_data, stager.wdata)),
                wp.we.eq(window.weight_we | stager.we)]
        else:
            self.comb += [wp.adr.eq(window.weight_addr), wp.dat_w.eq(window.weight_data),
                          wp.we.eq(window.weight_we)]
        for p in range(P):
            r, wp = biases[p]
            self.comb += [r.adr.eq(Mux(owned, window.bias_addr, seq.bias_addr)),
                          window.bias_rd[p].eq(r.dat_r),
                          wp.adr.eq(window.bias_addr), wp.dat_w.eq(window.bias_data),
                          wp.we.eq(window.bias_we[p])]
            r, wp = membranes[p]
            self.comb += [r.adr.eq(Mux(owned, window.membrane_addr,
                                       Mux(fire.running, fire.read_addr, syn.read_addr))),
                          syn.read_data[p].eq(r.dat_r), fire.read_data[p].eq(r.dat_r),
                          window.membrane_rd[p].eq(r.dat_r),
                          wp.adr.eq(Mux(seq.init_we, seq.init_addr, syn.write_addr)),
                          wp.dat_w.eq(Mux(seq.init_we, biases[p][0].dat_r, syn.write_data[p])),
                          wp.we.eq(seq.init_we | syn.write_en)]
        # spike maps: a program entry writes the map its out_map flag names (from its map_base
        # on: the entries of one layer's tiles write their groups) and reads the other one
        out_sel = lp.out_map
        for k in range(2):
            r, wp = maps[k]
            self.comb += [r.adr.eq(Mux(owned, window.map_addr, scanner.addr)),
                          window.map_rd[k].eq(r.dat_r),
                          wp.adr.eq(fire.write_addr), wp.dat_w.eq(fire.write_data),
                          wp.we.eq(fire.write_en & (out_sel == k))]
        self.comb += scanner.map_word.eq(Mux(out_sel, maps[0][0].dat_r, maps[1][0].dat_r))
        r, wp = image
        self.comb += [r.adr.eq(Mux(owned, window.offset, scanner.addr)),
                      scanner.pixel.eq(r.dat_r), window.image_rd.eq(r.dat_r),
                      wp.adr.eq(window.offset), wp.dat_w.eq(window.write_data),
                      wp.we.eq(window.image_we)]
        r, wp = program
        self.comb += [r.adr.eq(Mux(owned, window.program_addr, seq.program_addr)),
                      seq.program_data.eq(r.dat_r), window.program_rd.eq(r.dat_r),
                      wp.adr.eq(window.program_addr), wp.dat_w.eq(window.write_data),
                      wp.we.eq(window.program_we)]
        r, wp = counters
        self.comb += [r.adr.eq(window.offset), window.counter_rd.eq(r.dat_r),
                      wp.adr.eq(seq.counter_addr), wp.dat_w.eq(seq.counter_data),
                      wp.we.eq(seq.counter_we)]
