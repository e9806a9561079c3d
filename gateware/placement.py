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
    """Where one program entry lives in the core's memories (per-bank word offsets). An entry is
    a layer, or a tile of it: ``g`` of the layer's ``layer_g`` output groups from group ``g0``
    (core_config: the layer program)."""
    first: bool
    fc: bool
    pool: bool
    fires: bool
    cin: int
    cout: int        # channels of this entry
    h: int
    w: int
    gin: int
    g: int           # output groups of this entry
    base: int        # F - k: the shift of a weight of code 0 for a spike at t = 0
    wbase: int
    bbase: int
    layer: int = 0        # the model layer this entry computes (part of)
    g0: int = 0           # its first output group
    layer_g: int = 0      # the layer's output groups (0: g, a whole layer)
    layer_cout: int = 0   # the layer's channels (0: cout)

    @property
    def positions(self):     # membrane words per group
        return 1 if self.fc else self.h * self.w

    @property
    def out_positions(self):
        return (self.h // 2) * (self.w // 2) if self.pool else self.h * self.w

    @property
    def weight_words(self):
        return self.cin * self.h * self.w * self.g if self.fc else self.cin * 9 * self.g

    @property
    def last_tile(self) -> bool:
        """The entry that completes its layer's output map."""
        return self.g0 + self.g == (self.layer_g or self.g)

    def whole(self) -> "LayerPlan":
        """The whole layer this entry is part of (its output map's shape)."""
        return dataclasses.replace(self, g=self.layer_g or self.g, g0=0,
                                   cout=self.layer_cout or self.cout)

    def program_words(self, T: int, F: int, P: int) -> list[int]:
        flags = (self.first | self.pool << 1 | self.fc << 2 | self.fires << 3
                 | (self.layer % 2) << 4)
        # per input channel: weight stride (conv: 9 taps x G; fc: H*W positions x G)
        s_ci = self.positions_in * self.g if self.fc else 9 * self.g
        return [flags | T << 8 | self.base << 16 | F << 24,
                self.cin | self.gin << 16,
                self.h | self.w << 16,
                self.g | (self.h * self.w) << 16,
                self.wbase,
                s_ci,
                s_ci * P,
                self.bbase | self.map_base << 16]

    @property
    def map_base(self) -> int:
        """Word 7's high half: the first spike-map word the entry writes (g0 times the output
        positions) or, in an fc layer (which writes no map), its first membrane word (g0)."""
        return self.g0 if self.fc else self.g0 * self.out_positions

    @property
    def membrane_words(self) -> int:
        """Membrane words per bank the entry uses (an fc tile's sit after its layer's
        earlier tiles')."""
        return self.g0 + self.g if self.fc else self.g * self.positions

    @property
    def positions_in(self):
        return self.h * self.w


def tile_groups(cfg: CoreConfig, g: int, positions: int, weights_per_group: int) -> int:
    """Output groups per program entry: the whole layer if its membranes (and, staged from
    external memory, its weights) fit the core, else the most that do (at least one)."""
    most = cfg.membrane_depth // positions
    if cfg.external_weights:
        most = min(most, cfg.weight_depth // weights_per_group)
    return max(1, min(g, most))


def plan_model(art: ModelArtifact, cfg: CoreConfig) -> list[LayerPlan]:
    """Place a model in the core's memories: one program entry per layer, or per tile of a layer
    whose membranes (or staged weights) do not fit at once; a model that does not fit gets one
    clear error naming the memory and by how much."""
    P = cfg.pe
    coding = getattr(art, "coding", None)
    if coding is not None and coding.timed:
        raise DoesNotFit(f"model is {coding.name}-coded: the core runs log-TTFS only")
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
        g = ceil_div(l.out_channels, P)
        # an fc layer has one membrane word per group: only its staged weights may tile it
        gt = tile_groups(cfg, g, 1, cin * h * w) if fc else tile_groups(cfg, g, h * w, cin * 9)
        for g0 in range(0, g, gt):
            p = LayerPlan(first=i == 0, fc=fc, pool=l.pool, fires=l.fires, cin=cin,
                          cout=min(gt * P, l.out_channels - g0 * P), h=h, w=w,
                          gin=ceil_div(cin, P), g=min(gt, g - g0), base=base, wbase=wbase,
                          bbase=bbase, layer=i, g0=g0, layer_g=g, layer_cout=l.out_channels)
            plans.append(p)
            wbase += p.weight_words
            bbase += p.g
    # external weights: the block RAM stages one entry at a time
    weights = max(p.weight_words for p in plans) if cfg.external_weights else wbase
    firing = [p.whole() for p in plans if p.fires]
    need = {"weights": (weights, cfg.weight_depth), "biases": (bbase, cfg.bias_depth),
            "membranes": (max(p.membrane_words for p in plans), cfg.membrane_depth),
            "spike maps": (max(p.g * p.out_positions for p in firing), cfg.map_depth),
            "image": (art.layers[0].in_channels * art.layers[0].in_height
                      * art.layers[0].in_width, cfg.image_depth)}
    for name, (n, have) in need.items():
        if n > have:
            raise DoesNotFit(f"model does not fit the core's {name} memory: needs {n} words per "
                             f"bank, has {have} ({n - have} too many; P = {P})")
    if len(plans) > cfg.max_layers:
        tiles = f" ({len(plans) - len(art.layers)} more for tiles)" \
            if len(plans) > len(art.layers) else ""
        raise DoesNotFit(f"model needs {len(plans)} program entries{tiles}, the core's program "
                         f"holds {cfg.max_layers}")
    if bbase > 0xFFFF or max(p.map_base for p in plans) > 0xFFFF:
        raise DoesNotFit("model: bias or spike-map offsets past the program's 16-bit fields")
    return plans


def memory_images(art: ModelArtifact, cfg: CoreConfig, plans: list[LayerPlan]):
    """(weight words: list of P codes each, biases[bank] -> list of ints, program words)."""
    P = cfg.pe
    weights = []
    biases = [[] for _ in range(P)]
    program = []
    for p in plans:
        l = art.layers[p.layer]
        codes = np.asarray(l.codes, dtype=np.uint8)[p.g0 * P:p.g0 * P + p.cout]
        cpad = p.g * P
        if p.fc:   # (out, in) -> (in, out)
            arr = np.full((codes.shape[1], cpad), ZERO_CODE, dtype=np.uint8)
            arr[:, :p.cout] = codes.T
        else:      # (out, in, 3, 3) -> (in, ky, kx, out)
            arr = np.full((p.cin, 3, 3, cpad), ZERO_CODE, dtype=np.uint8)
            arr[..., :p.cout] = codes.transpose(1, 2, 3, 0)
        weights.extend(arr.reshape(-1, P).tolist())   # word (row, g): lanes = banks
        bias = np.zeros(cpad, dtype=np.int64)
        bias[:p.cout] = np.asarray(l.bias, dtype=np.int64)[p.g0 * P:p.g0 * P + p.cout]
        bias = bias.reshape(p.g, P)
        for b in range(P):
            biases[b].extend(bias[:, b].tolist())
        program.extend(p.program_words(art.T, art.frac_bits, P))
    return weights, biases, program


def model_needs(art: ModelArtifact, cfg: CoreConfig, plans: list[LayerPlan]) -> list[int]:
    """The 8 words of the model image's needs record: P, accumulator bits, program entries
    (layers and tiles), and words per bank of weights, biases, membranes, spike maps, then image
    bytes."""
    weights = [p.weight_words for p in plans]
    return [cfg.pe, art.acc_bits, len(plans), max(weights) if cfg.external_weights else sum(weights),
            sum(p.g for p in plans), max(p.membrane_words for p in plans),
            max((p.whole().g * p.out_positions for p in plans if p.fires), default=0),
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
        return self.plans[-1].whole().cout

    @property
    def firing_layers(self) -> list[int]:
        """The model layers that write a spike map (a tiled layer once), in order."""
        return [p.layer for p in self.plans if p.fires and p.last_tile]

    def to_json(self) -> dict:
        """The placement as JSON (the model image travels beside it as bytes)."""
        return {"core": dataclasses.asdict(self.cfg),
                "plans": [dataclasses.asdict(p) for p in self.plans]}

    @classmethod
    def from_json(cls, d: dict, image: bytes) -> "CompiledModel":
        return cls(CoreConfig(**d["core"]), [LayerPlan(**p) for p in d["plans"]], image)


def compile_model(art: ModelArtifact, cfg: CoreConfig) -> CompiledModel:
    """Place ``art`` for the core ``cfg`` (refusing a model that does not fit) and make its
    model image: a needs record, then (region, offset, words) records for the layer program,
    the layer count, the biases and the weights (``model_image.py``)."""
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
    return CompiledModel(cfg, plans, b"".join(out))


def model_image(art: ModelArtifact, cfg: CoreConfig) -> bytes:
    """The model image alone (``compile_model``)."""
    return compile_model(art, cfg).image
