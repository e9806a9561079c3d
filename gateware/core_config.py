"""The hardware contract of the log-TTFS core: its parameters, register map and memory layouts.

Pure Python (no Migen, no training code): the gateware (`log_ttfs_core.py`), the Verilator
harness, the firmware (through the generated `core_regs.h`) and the host all size and address
the core's memories from here, so there is one definition of each layout. Placing a model into
these memories is the model compiler's job (`placement.py`); the stream of records that carries
it to a device is `model_image.py`.

Memory layouts (P processing elements; output channel ``co`` lives in bank ``co % P`` at group
``g = co // P``; ``G = ceil(C_out / P)``):

* weights, bank p, word ``wbase + (ci*9 + ky*3 + kx)*G + g`` (conv) or ``wbase + i*G + g`` (fc,
  ``i`` the flattened (channel, row, column) input index): the 5-bit code of channel
  ``g*P + p``; code 15 (zero) for channels past C_out.
* biases, bank p, word ``bbase + g``: the model's integer bias (units of ``2^-F``).
* membranes, bank p, word ``g*H*W + y*W + x`` (fc: ``g``): the potential, ``acc_bits`` signed.
* spike maps (two, ping-pong: layer l writes map ``l % 2`` and reads the other), bank p, word
  ``g*H*W + y*W + x``
  of the layer's *output* (after pooling): the spike time, or 31 for no spike.
* image: byte ``c*H*W + y*W + x``: the 8-bit pixel.

The layer program: ``PROGRAM_WORDS`` 32-bit words per program entry (``placement.LayerPlan``
``program_words``). An entry is a layer, or a *tile* of one: a run of G_t of its G output groups
(channels ``g0*P ..``), when the layer's membranes (or, staged from external memory, its
weights) do not fit the core at once; the tiles of a layer scan the same input map and each
writes its groups of the output map. The layouts above then hold per entry: weights
``wbase + (ci*9 + ky*3 + kx)*G_t + (g - g0)``, biases ``bbase + (g - g0)``, membranes
``(g - g0)*H*W + ...``; the spike-map layout is the layer's. An fc layer tiles only when its
staged weights do not fit (fc weights ``wbase + i*G_t + (g - g0)``); its membranes keep the
layer's layout (word ``g``), so the last tile leaves every class's potential in place. Words:
0: flags (first, pool, fc, fires, out_map: bit 4, the map this entry writes) | T << 8 |
base << 16 | F << 24; 1: C_in | G_in << 16; 2: H | W << 16 (the layer's input map);
3: G_t | H*W << 16; 4: weight base; 5: weight stride per input channel (conv 9 G_t, fc H*W*G_t);
6: that stride times P; 7: bias base | map base << 16 (the first spike-map word the entry
writes: g0 times the output positions; in an fc entry, which writes no map, its first membrane
word: g0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:    # the board-side path (host/board_run.py) runs without torch
    from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError

# The compact CIFAR-10 network (training/net.py, arch "compact"): the default core holds it.
# (3x3 convolutions as (C_in, C_out, 2x2 pool after), fc inputs, classes, image size)
COMPACT_NETWORK = ([(3, 32, False), (32, 32, True), (32, 64, False), (64, 64, True),
                    (64, 128, False), (128, 128, True)], 2048, 10, 32)
# VGG-16 on CIFAR (training/net.py, arch "vgg16"): the paper's network
VGG16_NETWORK = ([(3, 64, False), (64, 64, True), (64, 128, False), (128, 128, True),
                  (128, 256, False), (256, 256, False), (256, 256, True), (256, 512, False),
                  (512, 512, False), (512, 512, True), (512, 512, False), (512, 512, False),
                  (512, 512, True)], 512, 10, 32)

PROGRAM_WORDS = 8
LANES_PER_WORD = 6       # 5-bit lanes per 32-bit bus word (weights, spike maps)
MAP_NO_SPIKE = 31        # spike-map value of a neuron that did not fire
# a core with external weights in a SoC reads weight word i (the model image's dense index,
# G bus words per weight word) at byte EXTERNAL_BASE + 4 i: the SoC's main_ram (LiteX's origin)
EXTERNAL_BASE = 0x4000_0000
NO_SPIKE = 255           # the host's spike time of that neuron (catsnn.numerics.NO_SPIKE: tested)
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
    # weights in external memory (the DRAM path): the weight block RAM is a staging buffer of
    # weight_depth words per bank, filled with each layer's weights before it runs
    external_weights: bool = False

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
    def sized_for(cls, convs, fc_in, classes, size, pe=16, **kw) -> "CoreConfig":
        """Memories sized for a network of 3x3 convolutions ``convs`` = [(C_in, C_out, pool),
        ...] on a ``size`` x ``size`` image and an fc layer of ``fc_in`` inputs, at P = pe
        (weights rounded up to 1024 words, the others to powers of two)."""
        wd, bd, md, nd, h = 0, 0, 0, 0, size
        for cin, cout, pool in convs:
            g = ceil_div(cout, pe)
            wd, bd, md = wd + cin * 9 * g, bd + g, max(md, g * h * h)
            h = h // 2 if pool else h
            nd = max(nd, g * h * h)
        g = ceil_div(classes, pe)
        wd, bd, md = wd + fc_in * g, bd + g, max(md, g)
        return cls(pe=pe, weight_depth=ceil_div(wd, 1024) * 1024, bias_depth=1 << clog2(bd),
                   membrane_depth=1 << clog2(md), map_depth=1 << clog2(nd),
                   image_depth=3 * size * size, **kw)

    @classmethod
    def compact(cls, pe=16, **kw) -> "CoreConfig":
        """The default core: memories for the compact CIFAR-10 network (COMPACT_NETWORK)."""
        return cls.sized_for(*COMPACT_NETWORK, pe=pe, **kw)

    @classmethod
    def fitting(cls, art: ModelArtifact, pe=16, **kw) -> "CoreConfig":
        """Memories sized for one model artifact (the same rounding as ``sized_for``)."""
        convs = [(l.in_channels, l.out_channels, l.pool) for l in art.layers[:-1]]
        fc = art.layers[-1]
        return cls.sized_for(convs, fc.in_channels, fc.out_channels, art.input_shape[1],
                             pe=pe, acc_bits=max(cls.acc_bits, art.acc_bits), **kw)

    def summary(self) -> str:
        return (f"P={self.pe} acc_bits={self.acc_bits} "
                f"weights={self.weight_depth}{' (staged from external memory)' if self.external_weights else ''} biases={self.bias_depth} "
                f"membranes={self.membrane_depth} maps={self.map_depth} words/bank, "
                f"image={self.image_depth} B, layers<={self.max_layers}")

    def memory_bits(self) -> dict:
        P = self.pe
        return {"weights": P * self.weight_depth * 5, "biases": P * self.bias_depth * self.acc_bits,
                "membranes": P * self.membrane_depth * self.acc_bits,
                "spike maps": 2 * P * self.map_depth * 5, "image": self.image_depth * 8}

    @property
    def weight_memory_depth(self) -> int:
        """Words of the weight block RAM: with external weights two halves of ``weight_depth``,
        one for the program entry that runs and one the next entry's weights are staged into
        meanwhile."""
        return 2 * self.weight_depth if self.external_weights else self.weight_depth

    def memory_shapes(self) -> dict:
        """name -> (width, depth, count) of every memory the core instantiates (the core builds
        them from this table; gateware/fit.py estimates block RAM from it). Weights and spike
        maps are one word of P 5-bit lanes: all lanes are read together, and a wide word packs
        block RAMs far better than P narrow memories."""
        P, A = self.pe, self.acc_bits
        return {"weights": (5 * P, self.weight_memory_depth, 1),
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


class DoesNotFit(UserError):
    """A model that the core's memories cannot hold (the message names the memory)."""


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


def unpack_lane_words(bus_words: list[int], pe: int) -> list[list[int]]:
    """Bus words of P-lane words (spike maps, weights; each word's lane groups padded to a
    power of two) -> lists of P 5-bit lanes."""
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
    return np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1).tobytes()




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
    t = np.array(unpack_lane_words(bus_words, pe), dtype=np.uint8)   # (g * pos, bank)
    ho, wo = (plan.h // 2, plan.w // 2) if plan.pool else (plan.h, plan.w)
    t = t.reshape(plan.g, ho, wo, pe).transpose(0, 3, 1, 2).reshape(plan.g * pe, ho, wo)
    t = t[:plan.cout].copy()
    t[t == MAP_NO_SPIKE] = NO_SPIKE
    return t


def spike_map_bus_words(plan: "LayerPlan", pe: int) -> int:
    """How many bus words hold a layer's output spike map (lane groups padded to 2^k)."""
    return plan.g * plan.out_positions << clog2(lane_groups(pe))


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
              f"#define CORE_LANE_GROUP_BITS {clog2(lane_groups(cfg.pe))}",
              f"#define CORE_EXTERNAL_WEIGHTS {int(cfg.external_weights)}",
              f"#define CORE_EXTERNAL_BASE {EXTERNAL_BASE:#x}u"]
    return "\n".join(lines) + "\n"


def info_registers(cfg: CoreConfig) -> dict:
    """The constant registers that describe a core (the gateware drives them; a host decodes
    them with config_from_registers)."""
    return {REG_ID: CORE_ID | cfg.pe << 16 | cfg.external_weights << 24,
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
                      dim_bits=(d0 >> 24) & 0xFF, external_weights=bool(ident >> 24 & 1))
