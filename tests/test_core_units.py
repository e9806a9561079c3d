"""Each unit of the log-TTFS core alone in Migen's simulator against a software model of it
(the tap address generator, the lanes and the encoder are in test_gateware_blocks.py). Every
test names the first difference.

Migen's simulator: a value written before ``yield`` is seen by that clock edge; reads after it
return the values of the cycle before the edge."""
import random

import pytest
import torch
from migen import If, Memory, Module, Signal, READ_FIRST
from migen.sim import run_simulation

from catsnn.gateware.core_config import (CORE_ID, MAP_NO_SPIKE, PROGRAM_WORDS, REG_CTRL, REG_ID,
                                         REG_NLAYERS, REG_STATUS, REGION_BIAS, REGION_MEMBRANE,
                                         REGION_REGS, REGION_WEIGHT, CoreConfig, bank_address,
                                         lane_address, pack_lanes, word_address)
from catsnn.gateware.event_scanner import EventScanner
from catsnn.gateware.fire_unit import FireUnit
from catsnn.gateware.layer_sequencer import LayerSequencer
from catsnn.gateware.memory_window import MemoryWindow
from catsnn.gateware.synapse_engine import SynapseEngine
from catsnn.gateware.weight_fetch import BlockRamWeightFetch
from catsnn.numerics import NO_SPIKE, spike_time_int

CFG = CoreConfig(pe=4, acc_bits=24, weight_depth=256, bias_depth=8, membrane_depth=64,
                 map_depth=64, image_depth=64, max_layers=4, dim_bits=4)


def first_difference(want, got, what):
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return f"{what} {i}: expected {a}, got {b}"
    return f"{len(got)} {what}s, expected {len(want)}"


def read_all(*signals):
    values = []
    for s in signals:
        values.append((yield s))
    return tuple(values)


def mem_port(module, init, width):
    m = Memory(width, len(init), init=init)
    r, w = m.get_port(mode=READ_FIRST), m.get_port(write_capable=True)
    module.specials += m, r, w
    return m, r, w


# ---------------------------------------------------------------- event scanner

def scanner_model(first, fc, cin_or_gin, H, W, G, wbase, s_ci, s_word, data, P):
    """The events in order: (pos, y, x, mag, t, w)."""
    out = []
    for c in range(cin_or_gin):
        for y in range(H):
            for x in range(W):
                item = data[c * H * W + y * W + x]
                pos = y * W + x
                if first:
                    if item:
                        out.append((pos, y, x, item, 8, wbase + c * s_ci))
                    continue
                for p in range(P):
                    t = (item >> 5 * p) & 31
                    if t != MAP_NO_SPIKE:
                        out.append((pos, y, x, 1, t, wbase + c * s_word + (pos * G if fc else 0)
                                    + p * s_ci))
    return out


@pytest.mark.parametrize("first,fc,stall", [(1, 0, 0.0), (1, 0, 0.5), (0, 0, 0.0),
                                            (0, 0, 0.5), (0, 1, 0.3)])
def test_event_scanner_matches_model(first, fc, stall):
    rng = random.Random(first * 10 + fc + int(stall * 100))
    P, H, W, groups, G = CFG.pe, 3, 4, 3, 2
    wbase, s_ci, s_word = 7, 9 * G, 9 * G * P
    if first:
        data = [0 if rng.random() < 0.3 else rng.randrange(1, 256) for _ in range(groups * H * W)]
    else:
        data = [sum((MAP_NO_SPIKE if rng.random() < 0.6 else rng.randrange(0, 16)) << 5 * p
                    for p in range(P)) for _ in range(groups * H * W)]
        data[3] = sum(MAP_NO_SPIKE << 5 * p for p in range(P))     # a word without spikes
    want = scanner_model(first, fc, groups, H, W, G, wbase, s_ci, s_word, data, P)

    class Bench(Module):
        def __init__(self):
            self.submodules.dut = dut = EventScanner(CFG)
            _, r, _ = mem_port(self, data, 8 if first else 5 * P)
            lp = dut.params
            self.comb += [r.adr.eq(dut.addr), dut.pixel.eq(r.dat_r), dut.map_word.eq(r.dat_r),
                          lp.first.eq(first), lp.fc.eq(fc), lp.cin.eq(groups), lp.gin.eq(groups),
                          lp.H.eq(H), lp.W.eq(W), lp.G.eq(G), lp.wbase.eq(wbase),
                          lp.s_ci.eq(s_ci), lp.s_word.eq(s_word),
                          *[t.eq(p * s_ci) for p, t in enumerate(dut.tab)]]
    top = Bench()
    dut, got = top.dut, []

    def bench():
        yield dut.start.eq(1)
        yield
        yield dut.start.eq(0)
        for _ in range(4000):
            ready = int(rng.random() >= stall)
            yield dut.source.ready.eq(ready)
            yield
            s = dut.source
            if ready and (yield s.valid):
                got.append((yield from read_all(s.pos, s.y, s.x, s.mag, s.t, s.w)))
            if (yield dut.done) and not (yield s.valid):
                break
    run_simulation(top, bench())
    assert got == want, first_difference(want, got, "event")


# ---------------------------------------------------------------- weight fetch

def test_weight_fetch_pairs_each_operation_with_its_word():
    rng = random.Random(1)
    P = CFG.pe
    words = [rng.randrange(1 << 5 * P) for _ in range(64)]
    ops = [(rng.randrange(64), rng.randrange(64), rng.randrange(256), rng.randrange(16))
           for _ in range(40)]
    want = [(m, mag, t, words[wa]) for wa, m, mag, t in ops]

    class Bench(Module):
        def __init__(self):
            self.submodules.dut = dut = BlockRamWeightFetch(CFG)
            _, r, _ = mem_port(self, words, 5 * P)
            self.comb += [r.adr.eq(dut.addr), dut.word.eq(r.dat_r)]
    top = Bench()
    dut, got = top.dut, []

    def bench():
        queue = list(ops)
        for _ in range(200):
            if queue and rng.random() < 0.7:      # operations with gaps between them
                wa, m, mag, t = queue.pop(0)
                yield from [dut.sink.valid.eq(1), dut.sink.waddr.eq(wa), dut.sink.maddr.eq(m),
                            dut.sink.mag.eq(mag), dut.sink.t.eq(t)]
            else:
                yield dut.sink.valid.eq(0)
            yield
            s = dut.source
            if (yield s.valid):
                got.append((yield from read_all(s.maddr, s.mag, s.t, s.codes)))
    run_simulation(top, bench())
    assert got == want, first_difference(want, got, "operation")


# ---------------------------------------------------------------- synapse engine

def test_synapse_engine_read_modify_write_matches_model():
    """Random operations, many hitting the same membrane word back to back (forwarding)."""
    rng = random.Random(2)
    P, A = CFG.pe, CFG.acc_bits
    init = [[rng.randrange(-(1 << 16), 1 << 16) for _ in range(16)] for _ in range(P)]
    base = 14
    ops = []
    for _ in range(120):
        m = rng.choice([3, 3, 4, rng.randrange(16)])
        pixel = rng.random() < 0.3
        mag, t = (rng.randrange(256), 8) if pixel else (1, rng.randrange(8))
        codes = [rng.choice([15, 31, rng.randrange(0, 6), 16 + rng.randrange(0, 6)])
                 for _ in range(P)]
        ops.append((m, mag, t, codes))
    want = [list(b) for b in init]
    sops = 0
    for m, mag, t, codes in ops:
        for p, c in enumerate(codes):
            if c & 15 != 15:
                want[p][m] += (-1 if c & 16 else 1) * (mag << (base - t - (c & 15)))
                sops += 1

    class Bench(Module):
        def __init__(self):
            self.submodules.dut = dut = SynapseEngine(CFG)
            self.mems = []
            for p in range(P):
                m, r, w = mem_port(self, [v & ((1 << A) - 1) for v in init[p]], A)
                self.mems.append(m)
                self.comb += [r.adr.eq(dut.read_addr), dut.read_data[p].eq(r.dat_r),
                              w.adr.eq(dut.write_addr), w.dat_w.eq(dut.write_data[p]),
                              w.we.eq(dut.write_en)]
    top = Bench()
    dut, got, counted = top.dut, [], [0]

    def bench():
        s = dut.sink
        yield dut.base.eq(base)
        for i in range(len(ops) + 40):
            if i < len(ops):
                m, mag, t, codes = ops[i]
                yield from [s.valid.eq(1), s.maddr.eq(m), s.mag.eq(mag), s.t.eq(t),
                            s.codes.eq(sum(c << 5 * p for p, c in enumerate(codes)))]
            else:
                yield s.valid.eq(0)
            yield
            if (yield dut.write_en):
                counted[0] += bin((yield dut.nonzero)).count("1")
        for p in range(P):
            vals = []
            for a in range(16):
                v = yield top.mems[p][a]
                vals.append(v - (1 << A) if v >> (A - 1) else v)
            got.append(vals)
    run_simulation(top, bench())
    for p in range(P):
        assert got[p] == want[p], "lane %d: " % p + first_difference(want[p], got[p], "word")
    assert counted[0] == sops


# ---------------------------------------------------------------- fire unit

@pytest.mark.parametrize("pool", [0, 1])
def test_fire_unit_writes_the_spike_map_of_the_model(pool):
    rng = random.Random(3 + pool)
    P, A, H, W, G, T, F = CFG.pe, CFG.acc_bits, 4, 6, 2, 8, 12
    vals = [[rng.choice([0, -5, rng.randrange(-(1 << 14), 1 << 14) >> rng.randrange(14)])
             for _ in range(G * H * W)] for _ in range(P)]
    times = [spike_time_int(torch.tensor(v), F, T).tolist() for v in vals]
    Ho, Wo = (H // 2, W // 2) if pool else (H, W)
    want = []
    for g in range(G):
        for oy in range(Ho):
            for ox in range(Wo):
                word = 0
                for p in range(P):
                    if pool:
                        t = min(times[p][g * H * W + (2 * oy + dy) * W + 2 * ox + dx]
                                for dy in (0, 1) for dx in (0, 1))
                    else:
                        t = times[p][g * H * W + oy * W + ox]
                    word |= (MAP_NO_SPIKE if t == NO_SPIKE else t) << 5 * p
                want.append((len(want), word))
    spikes = sum(t != NO_SPIKE for lane in times for t in lane)

    class Bench(Module):
        def __init__(self):
            self.submodules.dut = dut = FireUnit(CFG)
            for p in range(P):
                _, r, _ = mem_port(self, [v & ((1 << A) - 1) for v in vals[p]], A)
                self.comb += [r.adr.eq(dut.read_addr), dut.read_data[p].eq(r.dat_r)]
            self.comb += [dut.pool.eq(pool), dut.H.eq(H), dut.W.eq(W), dut.G.eq(G),
                          dut.T.eq(T), dut.frac.eq(F)]
    top = Bench()
    dut, got, counted = top.dut, [], [0]

    def bench():
        yield dut.start.eq(1)
        yield
        yield dut.start.eq(0)
        for _ in range(400):
            yield
            if (yield dut.write_en):
                got.append(((yield dut.write_addr), (yield dut.write_data)))
            counted[0] += bin((yield dut.spikes)).count("1")
            if (yield dut.done):
                break
    run_simulation(top, bench())
    assert got == want, first_difference(want, got, "map word")
    assert counted[0] == spikes


# ---------------------------------------------------------------- layer sequencer

def test_layer_sequencer_runs_the_program_with_pauses():
    """Two layers (a conv with G = 2, then an fc with G = 1), step mode: every program word
    decoded, the table p * s_ci, INIT writes each membrane word with its group's bias address,
    the datapath started and waited for, four counters stored per layer, a pause after layer 0."""
    P = CFG.pe
    conv = [1 | 1 << 1 | 1 << 3 | 8 << 8 | 20 << 16 | 23 << 24, 3 | 1 << 16, 4 | 4 << 16,
            2 | 16 << 16, 0, 18, 18 * P, 0]
    fc = [1 << 2 | 8 << 8 | 21 << 16 | 23 << 24, 8 | 2 << 16, 2 | 2 << 16, 1 | 4 << 16, 54, 4,
          4 * P, 2]
    program = conv + fc + [0] * (CFG.max_layers * PROGRAM_WORDS - 16)
    want_init = [[(g, g * 16 + pos) for g in range(2) for pos in range(16)], [(2, 0)]]

    class Bench(Module):
        def __init__(self):
            self.submodules.dut = dut = LayerSequencer(CFG)
            _, r, _ = mem_port(self, program, 32)
            self.comb += [r.adr.eq(dut.program_addr), dut.program_data.eq(r.dat_r),
                          dut.nlayers.eq(2), dut.step_mode.eq(1)]
            # a stand-in datapath: idle 5 cycles after the scan starts, fire done 7 after
            wait = Signal(4)
            self.sync += [
                If(dut.scan_start | dut.fire_start, wait.eq(1)),
                If(wait != 0, wait.eq(wait + 1)),
            ]
            self.comb += [dut.datapath_idle.eq(wait >= 5), dut.fire_done.eq(wait >= 7),
                          dut.event.eq(dut.scanning), dut.sop_valid.eq(dut.scanning),
                          dut.sop_lanes.eq(0b0101)]
    top = Bench()
    dut = top.dut
    seen = {"init": [[], []], "counters": [], "paused_at": [], "tab": None, "fire": 0}

    def bench():
        yield dut.start.eq(1)
        yield
        yield dut.start.eq(0)
        for _ in range(600):
            yield
            layer = yield dut.layer
            if (yield dut.init_we):
                seen["init"][layer].append(((yield dut.bias_addr), (yield dut.init_addr)))
            if (yield dut.counter_we):
                seen["counters"].append(((yield dut.counter_addr), (yield dut.counter_data)))
            if (yield dut.fire_start):
                seen["fire"] += 1
            if (yield dut.paused):
                seen["paused_at"].append(layer)
                seen["tab"] = list((yield from read_all(*dut.tab)))
                assert (yield dut.halted) and not (yield dut.busy)
                yield dut.resume.eq(1)
                yield
                yield dut.resume.eq(0)
            if (yield dut.done):
                break
        seen["done"] = yield dut.done
    run_simulation(top, bench())
    assert seen["done"] and seen["paused_at"] == [0]
    assert seen["tab"] == [p * 18 for p in range(P)]
    for layer in range(2):
        assert seen["init"][layer] == want_init[layer], f"layer {layer} INIT: " + \
            first_difference(want_init[layer], seen["init"][layer], "write")
    assert seen["fire"] == 1                       # the fc layer does not fire
    addrs = [a for a, _ in seen["counters"]]
    assert addrs == [0, 1, 2, 3, 4, 5, 6, 7]
    by_name = {a: v for a, v in seen["counters"]}
    assert by_name[2] == 2 * by_name[1] and by_name[1] > 0     # 2 SOPs per scanning cycle
    assert by_name[0] > by_name[1]                             # cycles include LOAD, INIT, ...


# ---------------------------------------------------------------- memory window

def test_memory_window_decodes_the_map():
    """Weight words arrive in lane groups and commit on the last; a bias entry commits on its
    high word; registers read back; a CTRL write pulses start and stores step mode; memory
    reads are 0 while the core runs."""
    cfg = CoreConfig(pe=8, acc_bits=40, weight_depth=64, bias_depth=8, membrane_depth=16,
                     map_depth=16, image_depth=48, max_layers=4, dim_bits=4)
    dut = MemoryWindow(cfg)
    codes = [3, 17, 15, 0, 31, 9, 2, 30]
    got = {}

    def access(adr, dat=0, we=0):
        b = dut.bus
        yield from [b.adr.eq(adr), b.dat_w.eq(dat), b.we.eq(we), b.cyc.eq(1), b.stb.eq(1)]
        yield
        while not (yield b.ack):
            yield
        value = yield b.dat_r
        yield from [b.cyc.eq(0), b.stb.eq(0)]
        yield
        return value

    def bench():
        yield dut.halted.eq(1)
        for j, word in enumerate(pack_lanes(codes, cfg.pe)):
            yield from access(lane_address(cfg, REGION_WEIGHT, 5, j), word, 1)
        a = bank_address(cfg, REGION_BIAS, 6, 3, cfg.bias_depth, True)
        v = -123456789012 & ((1 << 40) - 1)
        yield from access(a, v & 0xFFFFFFFF, 1)
        yield from access(a + 1, v >> 32, 1)
        got["ident"] = yield from access(word_address(cfg, REGION_REGS, REG_ID))
        yield from access(word_address(cfg, REGION_REGS, REG_NLAYERS), 3, 1)
        got["nlayers"] = yield dut.nlayers
        yield from [dut.busy.eq(1), dut.layer.eq(2)]
        got["status"] = yield from access(word_address(cfg, REGION_REGS, REG_STATUS))
        yield dut.membrane_rd[5].eq((1 << 40) - 2)     # -2, sign-extended to 64 bits
        a = bank_address(cfg, REGION_MEMBRANE, 5, 0, cfg.membrane_depth, True)
        got["membrane"] = [(yield from access(a)), (yield from access(a + 1))]
        yield dut.halted.eq(0)
        got["membrane_running"] = yield from access(a)
        yield dut.halted.eq(1)

    def watch():      # the commits, seen in the cycle they happen
        got["weight"], got["bias_we"] = [], []
        for _ in range(200):
            if (yield dut.weight_we):
                got["weight"].append(((yield dut.weight_addr), (yield dut.weight_data)))
            if (yield dut.bias_we):
                got["bias_we"].append(((yield dut.bias_we), (yield dut.bias_addr),
                                       (yield dut.bias_data)))
            yield

    run_simulation(dut, [bench(), watch()])
    assert len(pack_lanes(codes, cfg.pe)) == 2        # the first group is staged
    assert got["weight"] == [(5, sum(c << 5 * p for p, c in enumerate(codes)))]
    assert got["bias_we"] == [(1 << 6, 3, -123456789012 & ((1 << 40) - 1))]
    assert got["ident"] == CORE_ID | cfg.pe << 16
    assert got["nlayers"] == 3
    assert got["status"] == 1 | 2 << 8
    assert got["membrane"] == [0xFFFFFFFE, 0xFFFFFFFF]
    assert got["membrane_running"] == 0


def test_memory_window_ctrl_pulses_start_and_stores_step_mode():
    cfg = CFG
    dut = MemoryWindow(cfg)
    seen = []

    def bench():
        b = dut.bus
        adr = word_address(cfg, REGION_REGS, REG_CTRL)
        yield from [b.adr.eq(adr), b.dat_w.eq(1 | 2), b.we.eq(1), b.cyc.eq(1), b.stb.eq(1)]
        for _ in range(4):
            yield
            seen.append(((yield dut.start), (yield dut.step_mode), (yield b.ack)))
            if (yield b.ack):
                yield from [b.cyc.eq(0), b.stb.eq(0)]
        for _ in range(3):
            yield
            seen.append(((yield dut.start), (yield dut.step_mode), (yield b.ack)))
    run_simulation(dut, bench())
    assert sum(s for s, _, _ in seen) == 1          # one start pulse for one write
    assert seen[-1][1] == 1                          # step mode stored


# ---------------------------------------------------------------- weight stager (DRAM path)

def stager_model(ext_words, src_word, count, P):
    """The weight words a copy of ``count`` words from bus word ``src_word`` makes."""
    from catsnn.gateware.core_config import lane_groups
    G, out = lane_groups(P), []
    for i in range(count):
        word = 0
        for j in range(G):
            word |= (ext_words[src_word + i * G + j] & 0x3FFFFFFF) << (30 * j)
        out.append(word & ((1 << 5 * P) - 1))
    return out


@pytest.mark.parametrize("pe", [5, 12, 16])
def test_weight_stager_copies_lane_groups_with_any_memory_latency(pe):
    from migen.sim import passive
    from catsnn.gateware.core_config import lane_groups
    from catsnn.gateware.weight_stager import WeightStager
    cfg = CoreConfig(pe=pe, acc_bits=24, weight_depth=64, bias_depth=8, membrane_depth=64,
                     map_depth=64, image_depth=64, max_layers=4, dim_bits=4)
    rng = random.Random(pe)
    ext = [rng.getrandbits(32) for _ in range(512)]
    dut = WeightStager(cfg)
    bram = {}
    copies = [(8, 20, 5), (100, 3, 40), (0, 1, 0)]     # (src word, count, dst)

    @passive
    def memory():      # a slave that answers after 0-3 wait states
        while True:
            yield
            if (yield dut.bus.cyc) and (yield dut.bus.stb):
                for _ in range(rng.randrange(4)):
                    yield
                yield dut.bus.dat_r.eq(ext[(yield dut.bus.adr)])
                yield dut.bus.ack.eq(1)
                yield
                yield dut.bus.ack.eq(0)

    @passive
    def block_ram():
        while True:
            yield
            if (yield dut.we):
                bram[(yield dut.waddr)] = (yield dut.wdata)

    def run():
        for src, count, dst in copies:
            yield dut.src.eq(4 * src)
            yield dut.count.eq(count)
            yield dut.dst.eq(dst)
            yield dut.start.eq(1)
            yield
            yield dut.start.eq(0)
            yield
            for _ in range(2000):
                if not (yield dut.busy):
                    break
                yield
            assert not (yield dut.busy), "copy did not finish"
    run_simulation(dut, [run(), memory(), block_ram()])
    for src, count, dst in copies:
        want = stager_model(ext, src, count, pe)
        got = [bram.get(dst + i) for i in range(count)]
        assert got == want, first_difference(want, got, f"weight word (copy to {dst})")
    assert lane_groups(pe) in (1, 2, 3)
