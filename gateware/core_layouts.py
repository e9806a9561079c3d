"""The signals that pass between the units of the log-TTFS core: bit widths, the layer's
parameters and the stream layouts.

The core (``log_ttfs_core.LogTTFSCore``) is a chain of units joined by LiteX
``stream.Endpoint``s where data flows::

    EventScanner --event--> TapAddressGenerator --tap_op--> WeightFetch --synapse_op--> SynapseEngine

A weight fetch is any unit that turns ``tap_op`` into ``synapse_op`` (the weight word read at
``waddr`` travels with the operation): the block-RAM one here, a DRAM one later, with the lanes
untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

from migen.genlib.record import Record

from catsnn.gateware.core_config import CoreConfig, clog2


@dataclass(frozen=True)
class CoreWidths:
    """Bit widths of the core's counters and addresses, from its configuration."""
    dim: int         # H, W, y, x
    pos: int         # a position y*W + x
    waddr: int       # weight word address (one spare bit: sums of offsets)
    maddr: int       # membrane word address (likewise)
    naddr: int       # spike-map word address
    iaddr: int       # image byte address
    layer: int       # layer index

    @classmethod
    def of(cls, cfg: CoreConfig) -> "CoreWidths":
        return cls(dim=cfg.dim_bits, pos=2 * cfg.dim_bits,
                   waddr=clog2(cfg.weight_memory_depth) + 1, maddr=clog2(cfg.membrane_depth) + 1,
                   naddr=clog2(cfg.map_depth) + 1, iaddr=clog2(cfg.image_depth) + 1,
                   layer=clog2(cfg.max_layers))

    @property
    def scan_addr(self):     # the scanner reads the image or a spike map with one counter
        return max(self.iaddr, self.naddr)


def layer_params_layout(w: CoreWidths):
    """The decoded layer program (``core_config.LayerPlan.program_words``)."""
    return [("first", 1), ("pool", 1), ("fc", 1), ("fires", 1), ("out_map", 1),
            ("T", 5), ("frac", 6), ("base", 8),
            ("cin", 16), ("gin", 16), ("H", w.dim), ("W", w.dim), ("G", 16), ("HW", 16),
            ("wbase", w.waddr), ("s_ci", w.waddr), ("s_word", w.waddr), ("bbase", 16), ("map_base", 16)]


def layer_params(w: CoreWidths, name=None) -> Record:
    return Record(layer_params_layout(w), name=name)


def event_layout(w: CoreWidths):
    """One input event: its position, magnitude (pixel value, or 1 for a spike), time (8 for a
    pixel) and the weight row of its input channel (tap 0, group 0)."""
    return [("pos", w.pos), ("y", w.dim), ("x", w.dim), ("mag", 8), ("t", 5), ("w", w.waddr)]


def tap_op_layout(w: CoreWidths):
    """One operation of the synapse engine: weight word and membrane word addresses."""
    return [("waddr", w.waddr), ("maddr", w.maddr + 1), ("mag", 8), ("t", 5)]


def synapse_op_layout(w: CoreWidths, pe: int):
    """An operation with its weight word: P 5-bit codes, lane p in bits 5p..5p+4."""
    return [("maddr", w.maddr), ("mag", 8), ("t", 5), ("codes", 5 * pe)]
