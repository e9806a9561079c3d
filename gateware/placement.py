"""The model compiler: places a model artifact into a core's memories.

``plan_model`` decides where each layer lives (weight, bias, membrane and spike-map words per
bank, the layer program) and refuses, with one error naming the memory and by how much, a model
that does not fit. ``model_image`` turns the placement into the one format every device loads
(``model_image.py``: a stream of records), so the Verilator core, the simulated SoC and a board
all load the same bytes. Memory layouts and the register map are the hardware contract
(``core_config.py``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from catsnn.artifact import ModelArtifact
from catsnn.gateware.core_config import (DoesNotFit, REG_NLAYERS, REG_PROGRAM, REGION_BIAS, REGION_REGS,
                                         REGION_WEIGHT, RECORD_NEEDS, ZERO_CODE, CoreConfig,
                                         bank_address, ceil_div, pack_lanes, wide_bus_words)
from catsnn.gateware.model_image import WEIGHT_RECORD_WORDS, encode_record


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
    # external weights: the block RAM stages one layer at a time
    weights = max(p.weight_words for p in plans) if cfg.external_weights else wbase
    need = {"weights": (weights, cfg.weight_depth), "biases": (bbase, cfg.bias_depth),
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
    P = cfg.pe
    weights = []
    biases = [[] for _ in range(P)]
    program = []
    for l, p in zip(art.layers, plans):
        codes = np.asarray(l.codes, dtype=np.uint8)
        cpad = p.g * P
        if p.fc:   # (out, in) -> (in, out)
            arr = np.full((codes.shape[1], cpad), ZERO_CODE, dtype=np.uint8)
            arr[:, :p.cout] = codes.T
        else:      # (out, in, 3, 3) -> (in, ky, kx, out)
            arr = np.full((p.cin, 3, 3, cpad), ZERO_CODE, dtype=np.uint8)
            arr[..., :p.cout] = codes.transpose(1, 2, 3, 0)
        weights.extend(arr.reshape(-1, P).tolist())   # word (row, g): lanes = banks
        bias = np.zeros(cpad, dtype=np.int64)
        bias[:p.cout] = np.asarray(l.bias, dtype=np.int64)
        bias = bias.reshape(p.g, P)
        for b in range(P):
            biases[b].extend(bias[:, b].tolist())
        program.extend(p.program_words(art.T, art.frac_bits, P))
    return weights, biases, program


def model_needs(art: ModelArtifact, cfg: CoreConfig, plans: list[LayerPlan]) -> list[int]:
    """The 8 words of the model image's needs record: P, accumulator bits, layers, and words per
    bank of weights, biases, membranes, spike maps, then image bytes."""
    weights = [p.weight_words for p in plans]
    return [cfg.pe, art.acc_bits, len(plans), max(weights) if cfg.external_weights else sum(weights),
            sum(p.g for p in plans), max(p.g * p.positions for p in plans),
            max((p.g * p.out_positions for p in plans if p.fires), default=0),
            art.layers[0].in_channels * art.layers[0].in_height * art.layers[0].in_width]


@dataclass
class CompiledModel:
    """A model placed for one core: all a device needs to run it (no artifact, no torch), so
    the host can compile and a board run (``host/board_run.py``)."""
    cfg: CoreConfig
    plans: list[LayerPlan]
    image: bytes             # the model image (model_image.py)

    @property
    def classes(self) -> int:
        return self.plans[-1].cout

    def to_json(self) -> dict:
        """The placement as JSON (the model image travels beside it as bytes)."""
        return {"core": dataclasses.asdict(self.cfg),
                "plans": [dataclasses.asdict(p) for p in self.plans]}

    @classmethod
    def from_json(cls, d: dict, image: bytes) -> "CompiledModel":
        return cls(CoreConfig(**d["core"]), [LayerPlan(**p) for p in d["plans"]], image)


def compile_model(art: ModelArtifact, cfg: CoreConfig) -> CompiledModel:
    """Place ``art`` for the core ``cfg`` (refusing a model that does not fit) and make its
    model image."""
    return CompiledModel(cfg, plan_model(art, cfg), model_image(art, cfg))


def model_image(art: ModelArtifact, cfg: CoreConfig) -> bytes:
    """The model image for a core: a needs record, then (region, offset, words) records for the
    layer program, the layer count, the biases and the weights (``model_image.py``)."""
    plans = plan_model(art, cfg)
    weights, biases, program = memory_images(art, cfg, plans)

    out = [encode_record(RECORD_NEEDS, 0, model_needs(art, cfg, plans)),
           encode_record(REGION_REGS, REG_PROGRAM, program),
           encode_record(REGION_REGS, REG_NLAYERS, [len(plans)])]
    for b in range(cfg.pe):
        a = bank_address(cfg, REGION_BIAS, b, 0, cfg.bias_depth, True) & ((1 << cfg.region_shift) - 1)
        out.append(encode_record(REGION_BIAS, a, wide_bus_words(biases[b])))
    # weights: dense lane groups (no padding words); the firmware spreads dense index i to
    # bus offset (i / G) << clog2(G) | i % G, G = lane_groups(P)
    dense = [w for word in weights for w in pack_lanes(word, cfg.pe)]
    for i in range(0, len(dense), WEIGHT_RECORD_WORDS):
        out.append(encode_record(REGION_WEIGHT, i, dense[i:i + WEIGHT_RECORD_WORDS]))
    return b"".join(out)
