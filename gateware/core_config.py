"""Parameters of the log-TTFS core and the memory images the host writes into it.

Pure Python (no Migen): the gateware (`log_ttfs_core.py`), the Verilator harness, the firmware's
loader and the host all size and fill the core's memories from here, so there is one definition
of the layer program and of every memory layout.

Memory layouts (P processing elements; output channel ``co`` lives in bank ``co % P`` at group
``g = co // P``; ``G = ceil(C_out / P)``):

* weights, bank p, word ``wbase + (ci*9 + ky*3 + kx)*G + g`` (conv) or ``wbase + i*G + g`` (fc,
  ``i`` the flattened (channel, row, column) input index): the 5-bit code of channel
  ``g*P + p``; code 15 (zero) for channels past C_out.
* biases, bank p, word ``bbase + g``: the model's integer bias (units of ``2^-F``).
* membranes, bank p, word ``g*H*W + y*W + x`` (fc: ``g``): the potential, ``acc_bits`` signed.
* spike maps (two, ping-pong: layer l writes map ``l % 2``), bank p, word ``g*H*W + y*W + x``
  of the layer's *output* (after pooling): the spike time, or 31 for no spike.
* image: byte ``c*H*W + y*W + x``: the 8-bit pixel.

The layer program: ``PROGRAM_WORDS`` 32-bit words per layer (``LayerPlan.program_words``):
0: flags (first, pool, fc, fires) | T << 8 | base << 16 | F << 24; 1: C_in | G_in << 16; 2: H | W << 16
(the layer's input map); 3: G | H*W << 16; 4: weight base; 5: weight stride per input channel
(conv 9G, fc H*W*G); 6: that stride times P; 7: bias base.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError

PROGRAM_WORDS = 8
LANES_PER_WORD = 6       # 5-bit lanes per 32-bit bus word (weights, spike maps)
MAP_NO_SPIKE = 31        # spike-map value of a neuron that did not fire
ZERO_CODE = 15


def ceil_div(a, b):
    return -(-a // b)


def clog2(n):
    return max(1, (int(n) - 1).bit_length())


def lane_groups(pe):
    """Bus words per weight / spike-map word of P lanes."""
    return ceil_div(pe, LANES_PER_WORD)


@dataclass(frozen=True)
class CoreConfig:
    pe: int = 16                 # processing elements P (1..64): output channels per cycle
    acc_bits: int = 36           # membrane accumulator width W_hw (signed)
    weight_depth: int = 20480    # weight words per bank
    bias_depth: int = 32         # bias words per bank
    membrane_depth: int = 2048   # membrane words per bank
    map_depth: int = 2048        # spike-map words per bank (each of the two maps)
    image_depth: int = 3072      # image bytes
    max_layers: int = 16
    dim_bits: int = 7            # H, W < 2^dim_bits
    fifo_depth: int = 16         # events between the scanner and the synapse engine

    def __post_init__(self):
        if not 1 <= self.pe <= 64:
            raise UserError(f"core: P = {self.pe} processing elements, must be 1..64")
        if not 8 <= self.acc_bits <= 53:
            raise UserError(f"core: acc_bits {self.acc_bits} must be 8..53")

    # word-address layout of the Wishbone window (32-bit words)
    @property
    def region_shift(self):
        spans = [clog2(self.pe) + clog2(d) + 1 for d in (self.bias_depth, self.membrane_depth)]
        spans += [clog2(lane_groups(self.pe)) + clog2(d) for d in
                  (self.weight_depth, self.map_depth)]
        return max(spans + [clog2(self.image_depth), 10])

    @classmethod
    def for_arch(cls, arch="compact", pe=16, classes=10, size=32, **kw) -> "CoreConfig":
        """Memories sized for one architecture of training/net.py at P = pe (weights rounded
        up to 1024 words, the others to powers of two)."""
        from catsnn.training.net import conv_layers, fc_in_features
        wd, bd, md, nd, h = 0, 0, 0, 0, size
        for cin, cout, pool in conv_layers(arch):
            g = ceil_div(cout, pe)
            wd, bd, md = wd + cin * 9 * g, bd + g, max(md, g * h * h)
            h = h // 2 if pool else h
            nd = max(nd, g * h * h)
        g = ceil_div(classes, pe)
        wd, bd, md = wd + fc_in_features(arch, size) * g, bd + g, max(md, g)
        return cls(pe=pe, weight_depth=ceil_div(wd, 1024) * 1024, bias_depth=1 << clog2(bd),
                   membrane_depth=1 << clog2(md), map_depth=1 << clog2(nd),
                   image_depth=3 * size * size, **kw)

    def summary(self) -> str:
        return (f"P={self.pe} acc_bits={self.acc_bits} "
                f"weights={self.weight_depth} biases={self.bias_depth} "
                f"membranes={self.membrane_depth} maps={self.map_depth} words/bank, "
                f"image={self.image_depth} B, layers<={self.max_layers}")

    def memory_bits(self) -> dict:
        P = self.pe
        return {"weights": P * self.weight_depth * 5, "biases": P * self.bias_depth * self.acc_bits,
                "membranes": P * self.membrane_depth * self.acc_bits,
                "spike maps": 2 * P * self.map_depth * 5, "image": self.image_depth * 8}

    def memory_shapes(self) -> dict:
        """name -> (width, depth, count) of every memory the core instantiates (the core builds
        them from this table; gateware/fit.py estimates block RAM from it). Weights and spike
        maps are one word of P 5-bit lanes: all lanes are read together, and a wide word packs
        block RAMs far better than P narrow memories."""
        P, A = self.pe, self.acc_bits
        return {"weights": (5 * P, self.weight_depth, 1),
                "biases": (A, self.bias_depth, P),
                "membranes": (A, self.membrane_depth, P),
                "spike_map": (5 * P, self.map_depth, 2),
                "image": (8, self.image_depth, 1),
                "layer_program": (32, self.max_layers * PROGRAM_WORDS, 1),
                "layer_counters": (32, self.max_layers * len(COUNTERS), 1)}


# Wishbone regions (word address >> region_shift)
REGION_REGS, REGION_IMAGE, REGION_BIAS, REGION_WEIGHT, REGION_MEMBRANE, REGION_MAP0, \
    REGION_MAP1, REGION_COUNTERS = range(8)
# registers (word offsets in REGION_REGS)
REG_CTRL, REG_STATUS, REG_NLAYERS, REG_CYCLES, REG_ID, REG_DEPTH0, REG_DEPTH1, REG_DEPTH2, \
    REG_DEPTH3 = range(9)
INFO_REGS = 9                        # registers 0..8 describe the core (firmware INFO reply)
RECORD_NEEDS = 0xFE                  # model image record: what the model needs (8 words)
REG_PROGRAM = 0x100                  # max_layers * PROGRAM_WORDS words of layer program
CTRL_START, CTRL_STEP, CTRL_CONTINUE = 1, 2, 4
STATUS_BUSY, STATUS_DONE, STATUS_PAUSED = 1, 2, 4
COUNTERS = ("cycles", "input_events", "sops", "output_spikes")   # per layer, in this order
CORE_ID = 0xCA75


def word_address(cfg: CoreConfig, region: int, offset: int) -> int:
    return (region << cfg.region_shift) | offset


def lane_address(cfg: CoreConfig, region: int, index: int, group: int = 0) -> int:
    """Word address of lanes 6*group .. 6*group+5 of word ``index`` (weights, spike maps)."""
    return word_address(cfg, region, index << clog2(lane_groups(cfg.pe)) | group)


def pack_lanes(codes: list[int], pe: int) -> list[int]:
    """One word of P 5-bit lanes -> its bus words (6 lanes each, lane 0 in the low bits)."""
    out = []
    for j in range(lane_groups(pe)):
        w = 0
        for i, c in enumerate(codes[LANES_PER_WORD * j:LANES_PER_WORD * (j + 1)]):
            w |= (c & 31) << (5 * i)
        out.append(w)
    return out


def bank_address(cfg: CoreConfig, region: int, bank: int, index: int, depth: int,
                 two_words: bool = False) -> int:
    """Word address of entry ``index`` of bank ``bank`` (two_words: the low word of a 64-bit
    entry; the high word follows)."""
    sub = (bank << clog2(depth)) | index
    return word_address(cfg, region, (sub << 1) if two_words else sub)


@dataclass
class LayerPlan:
    """Where one layer lives in the core's memories (per-bank word offsets)."""
    first: bool
    fc: bool
    pool: bool
    fires: bool
    cin: int
    cout: int
    h: int
    w: int
    gin: int
    g: int
    base: int        # F - k: the shift of a weight of code 0 for a spike at t = 0
    wbase: int
    bbase: int

    @property
    def positions(self):     # membrane words per group
        return 1 if self.fc else self.h * self.w

    @property
    def out_positions(self):
        return (self.h // 2) * (self.w // 2) if self.pool else self.h * self.w

    @property
    def weight_words(self):
        return self.cin * self.h * self.w * self.g if self.fc else self.cin * 9 * self.g

    def program_words(self, T: int, F: int, P: int) -> list[int]:
        flags = self.first | self.pool << 1 | self.fc << 2 | self.fires << 3
        # per input channel: weight stride (conv: 9 taps x G; fc: H*W positions x G)
        s_ci = self.positions_in * self.g if self.fc else 9 * self.g
        return [flags | T << 8 | self.base << 16 | F << 24,
                self.cin | self.gin << 16,
                self.h | self.w << 16,
                self.g | (self.h * self.w) << 16,
                self.wbase,
                s_ci,
                s_ci * P,
                self.bbase]

    @property
    def positions_in(self):
        return self.h * self.w


class DoesNotFit(UserError):
    pass


def plan_model(art: ModelArtifact, cfg: CoreConfig) -> list[LayerPlan]:
    """Place a model in the core's memories; a model that does not fit gets one clear error
    naming the memory and by how much."""
    P = cfg.pe
    if len(art.layers) > cfg.max_layers:
        raise DoesNotFit(f"model has {len(art.layers)} layers, the core's program holds "
                         f"{cfg.max_layers}")
    if art.acc_bits > cfg.acc_bits:
        raise DoesNotFit(f"model needs a {art.acc_bits}-bit accumulator, the core has "
                         f"{cfg.acc_bits} bits")
    if not 0 <= art.frac_bits < 64:
        raise DoesNotFit(f"model F = {art.frac_bits} out of the core's range 0..63")
    plans, wbase, bbase = [], 0, 0
    for i, l in enumerate(art.layers):
        fc = l.kind == "fc"
        if fc:   # the fc layer reads the previous layer's output map
            prev = art.layers[i - 1]
            cin, h, w = prev.out_channels, prev.out_height, prev.out_width
        else:
            cin, h, w = l.in_channels, l.in_height, l.in_width
        if max(h, w) >= 1 << cfg.dim_bits:
            raise DoesNotFit(f"layer {i}: {h}x{w} map, the core handles < {1 << cfg.dim_bits}")
        base = art.frac_bits - l.k
        if not 0 <= base < 128:
            raise DoesNotFit(f"layer {i}: weight offset k = {l.k} out of the core's range")
        p = LayerPlan(first=i == 0, fc=fc, pool=l.pool, fires=l.fires, cin=cin,
                      cout=l.out_channels, h=h, w=w, gin=ceil_div(cin, P),
                      g=ceil_div(l.out_channels, P), base=base, wbase=wbase, bbase=bbase)
        plans.append(p)
        wbase += p.weight_words
        bbase += p.g
    need = {"weights": (wbase, cfg.weight_depth), "biases": (bbase, cfg.bias_depth),
            "membranes": (max(p.g * p.positions for p in plans), cfg.membrane_depth),
            "spike maps": (max(p.g * p.out_positions for p in plans if p.fires),
                           cfg.map_depth),
            "image": (art.layers[0].in_channels * art.layers[0].in_height
                      * art.layers[0].in_width, cfg.image_depth)}
    for name, (n, have) in need.items():
        if n > have:
            raise DoesNotFit(f"model does not fit the core's {name} memory: needs {n} words per "
                             f"bank, has {have} ({n - have} too many; P = {P})")
    return plans


def memory_images(art: ModelArtifact, cfg: CoreConfig, plans: list[LayerPlan]):
    """(weight words: list of P codes each, biases[bank] -> list of ints, program words)."""
    import torch
    P = cfg.pe
    weights = []
    biases = [[] for _ in range(P)]
    program = []
    for l, p in zip(art.layers, plans):
        codes = l.codes
        cpad = p.g * P
        if p.fc:   # (out, in) -> (in, out)
            arr = torch.full((codes.shape[1], cpad), ZERO_CODE, dtype=torch.uint8)
            arr[:, :p.cout] = codes.t()
        else:      # (out, in, 3, 3) -> (in, ky, kx, out)
            arr = torch.full((p.cin, 3, 3, cpad), ZERO_CODE, dtype=torch.uint8)
            arr[..., :p.cout] = codes.permute(1, 2, 3, 0)
        weights.extend(arr.reshape(-1, P).tolist())   # word (row, g): lanes = banks
        bias = torch.zeros(cpad, dtype=torch.int64)
        bias[:p.cout] = l.bias
        bias = bias.reshape(p.g, P)
        for b in range(P):
            biases[b].extend(bias[:, b].tolist())
        program.extend(p.program_words(art.T, art.frac_bits, P))
    return weights, biases, program


def weight_bus_words(weights: list[list[int]], pe: int) -> list[int]:
    """The weight memory as consecutive bus words from address lane_address(.., 0, 0): each
    word's lane groups, padded to a power of two (the padding writes are ignored)."""
    span = 1 << clog2(lane_groups(pe))
    out = []
    for word in weights:
        g = pack_lanes(word, pe)
        out.extend(g + [0] * (span - len(g)))
    return out


def unpack_lane_words(bus_words: list[int], pe: int) -> list[list[int]]:
    """Inverse of weight_bus_words (also reads spike-map words): lists of P 5-bit lanes."""
    span = 1 << clog2(lane_groups(pe))
    out = []
    for i in range(0, len(bus_words), span):
        lanes = []
        for w in bus_words[i:i + lane_groups(pe)]:
            lanes.extend((w >> (5 * j)) & 31 for j in range(LANES_PER_WORD))
        out.append(lanes[:pe])
    return out


def image_bytes(pixels) -> bytes:
    """One uint8 (C, H, W) image in the core's image-memory order."""
    return bytes(pixels.contiguous().reshape(-1).tolist())


# model image record: u8 region, 3 bytes 0, u32 word offset, u32 count, then count u32 words
MODEL_RECORD = struct.Struct("<B3xII")


def wide_bus_words(values: list[int]) -> list[int]:
    """Signed 64-bit entries (biases, membranes) as bus words: low word, then high word."""
    out = []
    for v in values:
        v &= (1 << 64) - 1
        out += [v & 0xFFFFFFFF, v >> 32]
    return out


def from_wide_bus_words(words: list[int]) -> list[int]:
    """Inverse of wide_bus_words."""
    vals = [lo | hi << 32 for lo, hi in zip(words[0::2], words[1::2])]
    return [v - (1 << 64) if v >> 63 else v for v in vals]


def spike_map(bus_words: list[int], plan: "LayerPlan", pe: int):
    """A layer's output spike map read from the core (bus words from lane_address(.., 0, 0))
    as uint8 (C, H, W) spike times, NO_SPIKE = 255 where the core stores MAP_NO_SPIKE."""
    import torch

    from catsnn.numerics import NO_SPIKE
    t = torch.tensor(unpack_lane_words(bus_words, pe), dtype=torch.uint8)   # (g * pos, bank)
    ho, wo = (plan.h // 2, plan.w // 2) if plan.pool else (plan.h, plan.w)
    t = t.reshape(plan.g, ho, wo, pe).permute(0, 3, 1, 2).reshape(plan.g * pe, ho, wo)
    t = t[:plan.cout].clone()
    t[t == MAP_NO_SPIKE] = NO_SPIKE
    return t


def spike_map_bus_words(plan: "LayerPlan", pe: int) -> int:
    """How many bus words hold a layer's output spike map (lane groups padded to 2^k)."""
    return plan.g * plan.out_positions << clog2(lane_groups(pe))


def model_needs(art: ModelArtifact, cfg: CoreConfig, plans: list[LayerPlan]) -> list[int]:
    """The 8 words of the model image's needs record: P, accumulator bits, layers, and words per
    bank of weights, biases, membranes, spike maps, then image bytes."""
    return [cfg.pe, art.acc_bits, len(plans), sum(p.weight_words for p in plans),
            sum(p.g for p in plans), max(p.g * p.positions for p in plans),
            max((p.g * p.out_positions for p in plans if p.fires), default=0),
            art.layers[0].in_channels * art.layers[0].in_height * art.layers[0].in_width]


def model_image(art: ModelArtifact, cfg: CoreConfig) -> bytes:
    """The model as the firmware loads it: a needs record, then (region, offset, words) records
    for the layer program, the layer count, the biases and the weights (MODEL_RECORD)."""
    plans = plan_model(art, cfg)
    weights, biases, program = memory_images(art, cfg, plans)

    def record(region, offset, words):
        return MODEL_RECORD.pack(region, offset, len(words)) + \
            struct.pack(f"<{len(words)}I", *words)
    out = [record(RECORD_NEEDS, 0, model_needs(art, cfg, plans)),
           record(REGION_REGS, REG_PROGRAM, program),
           record(REGION_REGS, REG_NLAYERS, [len(plans)])]
    for b in range(cfg.pe):
        a = bank_address(cfg, REGION_BIAS, b, 0, cfg.bias_depth, True) & ((1 << cfg.region_shift) - 1)
        out.append(record(REGION_BIAS, a, wide_bus_words(biases[b])))
    # weights: dense lane groups (no padding words); the firmware spreads dense index i to
    # bus offset (i / G) << clog2(G) | i % G, G = lane_groups(P)
    dense = [w for word in weights for w in pack_lanes(word, cfg.pe)]
    for i in range(0, len(dense), 4096):      # records of at most 16 KiB
        out.append(record(REGION_WEIGHT, i, dense[i:i + 4096]))
    return b"".join(out)


def c_header(cfg: CoreConfig) -> str:
    """The firmware's view of the core (firmware/core_regs.h is generated from it)."""
    g = globals()
    lines = ["/* Generated from gateware/core_config.py by the firmware build: do not edit. */",
             "#pragma once"]
    for name in sorted(g):
        if name.startswith(("REGION_", "REG_", "CTRL_", "STATUS_")) or name in (
                "CORE_ID", "PROGRAM_WORDS", "INFO_REGS", "RECORD_NEEDS", "MAP_NO_SPIKE",
                "LANES_PER_WORD"):
            lines.append(f"#define CORE_{name} {g[name]}")
    lines += [f"#define CORE_REGION_SHIFT {cfg.region_shift}",
              f"#define CORE_MEMBRANE_INDEX_BITS {clog2(cfg.membrane_depth)}",
              f"#define CORE_PE {cfg.pe}",
              f"#define CORE_LANE_GROUPS {lane_groups(cfg.pe)}",
              f"#define CORE_LANE_GROUP_BITS {clog2(lane_groups(cfg.pe))}"]
    return "\n".join(lines) + "\n"


def info_registers(cfg: CoreConfig) -> dict:
    """The constant registers that describe a core (the gateware drives them; a host decodes
    them with config_from_registers)."""
    return {REG_ID: CORE_ID | cfg.pe << 16,
            REG_DEPTH0: cfg.acc_bits | cfg.max_layers << 16 | cfg.dim_bits << 24,
            REG_DEPTH1: cfg.weight_depth,
            REG_DEPTH2: cfg.membrane_depth | cfg.map_depth << 16,
            REG_DEPTH3: cfg.bias_depth | cfg.image_depth << 16}


def config_from_registers(regs: list[int]) -> CoreConfig:
    """A CoreConfig rebuilt from the core's registers 0..INFO_REGS-1 (what a device reports)."""
    ident, d0, d1, d2, d3 = (regs[REG_ID], regs[REG_DEPTH0], regs[REG_DEPTH1], regs[REG_DEPTH2],
                             regs[REG_DEPTH3])
    if ident & 0xFFFF != CORE_ID:
        raise UserError(f"device: no catsnn core (ID register {ident:#x})")
    return CoreConfig(pe=(ident >> 16) & 0xFF, acc_bits=d0 & 0xFF, weight_depth=d1,
                      bias_depth=d3 & 0xFFFF, membrane_depth=d2 & 0xFFFF, map_depth=d2 >> 16,
                      image_depth=d3 >> 16, max_layers=(d0 >> 16) & 0xFF,
                      dim_bits=(d0 >> 24) & 0xFF)
