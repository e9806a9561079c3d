"""`catsnn energy`: an ASIC energy estimate from real activity (docs/energy.md).

Event counts per image and layer come from the reference model (the same counters a hardware
backend reads back); each is multiplied by a per-event energy from a documented table
(host/energy_tables/*.json, each figure with its source), scaled to the chosen node.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from catsnn.artifact import ModelArtifact

TABLES = Path(__file__).resolve().parent / "energy_tables"
DEFAULT_TABLE = TABLES / "horowitz45.json"
KINDS = ["synaptic_add", "weight_read", "membrane_rw", "spike_map_rw", "encode", "control",
         "leakage", "dram"]
PAPER_VGG16_UJ = {"cifar10": 486.7, "cifar100": 503.6, "tiny-imagenet": 1426.0}


class EnergyTableError(Exception):
    """An energy table that cannot be used; the message names the file and the field."""


def _interp(points: dict, x: float, log2: bool = False, clamp: bool = False) -> float:
    pts = sorted((float(k), float(v)) for k, v in points.items())
    f = (lambda v: math.log2(v)) if log2 else (lambda v: v)
    if clamp:
        x = min(max(x, pts[0][0]), pts[-1][0])
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1 or (x1, y1) == pts[-1]:
            return y0 + (y1 - y0) * (f(x) - f(x0)) / (f(x1) - f(x0))
    return pts[0][1]


@dataclass
class EnergyTable:
    path: str
    raw: dict

    @classmethod
    def load(cls, path=DEFAULT_TABLE) -> "EnergyTable":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise EnergyTableError(f"{path}: no such energy table") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise EnergyTableError(f"{path}: not valid JSON ({e})") from None
        t = cls(str(path), raw)
        for key in ("add_pj", "sram_read_64b_pj"):
            pts = raw.get(key, {}).get("points") if isinstance(raw.get(key), dict) else None
            if not isinstance(pts, dict) or len(pts) < 2:
                raise EnergyTableError(f"{path}: '{key}.points' needs at least two points")
            try:
                if any(float(k) <= 0 or float(v) < 0 for k, v in pts.items()):
                    raise ValueError
            except (TypeError, ValueError):
                raise EnergyTableError(f"{path}: '{key}.points' must map positive sizes to "
                                       f"non-negative energies") from None
        for key in ("sram_write_over_read", "sram_bank_bytes", "membrane_rmw_per_sop", "control_pj_per_cycle",
                    "leakage_mw", "clock_mhz", "pe", "node_nm"):
            t.value(key)
        return t

    def value(self, key) -> float:
        v = self.raw.get(key)
        v = v.get("value") if isinstance(v, dict) else v
        if not isinstance(v, (int, float)) or v < 0:
            raise EnergyTableError(f"{self.path}: '{key}' must be a non-negative number")
        return float(v)

    def scale(self, node_nm: float) -> float:
        base, volts = self.value("node_nm"), self.raw.get("scaling", {}).get("voltage_by_node_v", {})
        key = f"{node_nm:g}"
        if key not in volts or f"{base:g}" not in volts:
            raise EnergyTableError(f"{self.path}: no supply voltage for {key} nm in "
                                   f"scaling.voltage_by_node_v (known: {', '.join(volts)})")
        return (node_nm / base) * (volts[key] / volts[f"{base:g}"]) ** 2

    def add_pj(self, bits: int) -> float:
        return _interp(self.raw["add_pj"]["points"], bits)

    def sram_pj_per_bit(self, memory_bytes: float) -> float:
        bank = min(memory_bytes, self.value("sram_bank_bytes"))
        return _interp(self.raw["sram_read_64b_pj"]["points"], max(bank, 1), log2=True,
                       clamp=True) / 64.0

    def dram_pj_per_bit(self) -> float:
        """Off-chip DRAM read energy per bit (only the DRAM dataflow needs it; not scaled with
        the node: the DRAM chip is not the ASIC)."""
        if "dram_pj_per_bit" not in self.raw:
            raise EnergyTableError(f"{self.path}: 'dram_pj_per_bit' is needed for the DRAM "
                                   f"dataflow")
        return self.value("dram_pj_per_bit")

    def sources(self) -> dict:
        return {k: v["source"] for k, v in self.raw.items() if isinstance(v, dict) and "source" in v}


def spike_time_bits(T: int) -> int:
    return (T).bit_length()  # t in 0..T-1 plus the "no spike" code


def layer_geometry(art: ModelArtifact):
    """Per layer: neurons evaluated, input map entries scanned, output map entries written."""
    geo = []
    for i, l in enumerate(art.layers):
        if l.kind == "conv3x3":
            neurons = l.out_channels * l.in_height * l.in_width
            in_map = l.in_channels * l.in_height * l.in_width
            out_map = l.out_channels * l.out_height * l.out_width
        else:
            neurons, in_map, out_map = l.out_channels, l.in_channels, l.out_channels
        geo.append((neurons, in_map, out_map))
    return geo


def dram_dataflow(art: ModelArtifact, core) -> dict:
    """What the DRAM boards' core does per image and layer beyond the resident one: the layer's
    program entries (tiles: each scans the whole input map again) and the bytes of its weights
    read from DRAM (each weight word of P lanes is ceil(P / 6) 32-bit bus words), with the
    core's own memory sizes (gateware/placement.py places the model: a model that does not fit
    this core is refused)."""
    from catsnn.gateware.core_config import lane_groups
    from catsnn.gateware.placement import plan_model
    plans = plan_model(art, core)
    P = core.pe
    return {"tiles": [sum(p.layer == i for p in plans) for i in range(len(art.layers))],
            "dram_bytes": [sum(p.weight_words for p in plans if p.layer == i) * 4 * lane_groups(P)
                           for i in range(len(art.layers))],
            "weight_bytes": core.weight_memory_depth * 5 * P / 8,     # the staging buffer
            "membrane_bytes": core.membrane_depth * art.acc_bits / 8,  # one lane's bank
            "spike_bytes": 2 * core.map_depth * 5 * P / 8}


def event_energies(art: ModelArtifact, input_events, sops, output_spikes, table: EnergyTable,
                   node_nm: float = 28, pe: int | None = None, core=None):
    """Energy in pJ per image, layer and kind: tensor (N, layers, len(KINDS)), and cycles (N, L).

    input_events, sops, output_spikes: int64 (N, layers) from the reference (or hardware).
    ``core``: a CoreConfig with external weights: the dataflow of that core (``dram_dataflow``:
    weights read from DRAM once per image and staged, memories of the core's sizes, layers in
    tiles); None: every weight resident on chip (docs/energy.md).
    """
    pe = int(core.pe if core is not None else pe or table.value("pe"))
    s = table.scale(node_nm)
    W, sb = art.acc_bits, spike_time_bits(art.T)
    # a timed coding (rate, phase, burst) updates every neuron and scans every input entry at
    # each of its T steps; a map entry per step is one bit (burst: the doubling count too)
    steps = art.T if art.coding.timed else 1
    if art.coding.timed:
        sb = 1 + (art.coding.max_burst.bit_length() if art.coding.name == "burst" else 0)
    geo = layer_geometry(art)
    if core is None:
        weight_bytes = 5 * art.num_weights / 8
        membrane_bytes = max(g[0] for g in geo) * W / 8
        spike_bytes = 2 * max(max(g[1], g[2]) for g in geo) * sb / 8  # ping-pong maps
        tiles, dram_bytes, e_dram = [1] * len(geo), [0] * len(geo), 0.0
    else:
        flow = dram_dataflow(art, core)
        weight_bytes, membrane_bytes, spike_bytes = (flow["weight_bytes"], flow["membrane_bytes"],
                                                     flow["spike_bytes"])
        tiles, dram_bytes, e_dram = flow["tiles"], flow["dram_bytes"], table.dram_pj_per_bit()
    e_add = table.add_pj(W)
    e_w = table.sram_pj_per_bit(weight_bytes)
    e_m = table.sram_pj_per_bit(membrane_bytes)
    e_s = table.sram_pj_per_bit(spike_bytes)
    rw = 1 + table.value("sram_write_over_read")
    rmw = table.value("membrane_rmw_per_sop")
    e_ctrl = table.value("control_pj_per_cycle")
    e_leak = table.value("leakage_mw") * 1e-3 / (table.value("clock_mhz") * 1e6) * 1e12  # pJ/cycle
    n = sops.shape[0]
    out = torch.zeros(n, len(art.layers), len(KINDS), dtype=torch.float64)
    cycles = torch.zeros(n, len(art.layers), dtype=torch.float64)
    for i, (l, (neurons, in_map, out_map)) in enumerate(zip(art.layers, geo)):
        sop = sops[:, i].double()
        in_bits = 8 if i == 0 else sb          # pixels, then spike times
        out_bits = sb if l.fires else W        # spike times, or the final potentials
        scans = in_map * tiles[i] * steps        # every tile scans the whole input map
        neurons_steps = neurons * steps if l.fires else neurons
        cyc = torch.ceil((sop + neurons_steps + scans) / pe)
        cycles[:, i] = cyc
        staged = dram_bytes[i] * 8 * (rw - 1)   # the staging buffer written from DRAM
        out[:, i, 0] = sop * e_add                                   # shift-add into V
        out[:, i, 1] = sop * 5 * e_w + staged * e_w                  # one 5-bit code per SOP
        out[:, i, 2] = (sop * rmw + neurons_steps) * W * e_m * rw    # V read+write per SOP, init+final
        out[:, i, 3] = scans * in_bits * e_s + out_map * (steps if l.fires else 1) * out_bits \
            * e_s * (rw - 1)
        out[:, i, 4] = (neurons_steps * e_add) if l.fires else 0.0   # leading-one / threshold
        out[:, i, 5] = cyc * e_ctrl
        out[:, i, 6] = cyc * e_leak
    out *= s
    for i, b in enumerate(dram_bytes):          # the DRAM chip: not scaled with the node
        out[:, i, 7] = b * 8 * e_dram
    return out, cycles


def summarise(art: ModelArtifact, energies: torch.Tensor, cycles: torch.Tensor, sops: torch.Tensor,
              table: EnergyTable, node_nm: float, pe: int | None, dataset: str) -> dict:
    per_image_uj = energies.sum((1, 2)) * 1e-6
    mean_layer_kind = energies.mean(0) * 1e-6  # (L, K) uJ
    per_layer = []
    for i, l in enumerate(art.layers):
        row = {"layer": i, "kind": l.kind, "uj": float(mean_layer_kind[i].sum()),
               "sops": float(sops[:, i].double().mean()), "cycles": float(cycles[:, i].mean())}
        row.update({k: float(mean_layer_kind[i, j]) for j, k in enumerate(KINDS)})
        per_layer.append(row)
    total = float(per_image_uj.mean())
    sops_img = float(sops.double().sum(1).mean())
    r = {"uj_per_image": total, "uj_std": float(per_image_uj.std()) if len(per_image_uj) > 1 else 0.0,
         "uj_min": float(per_image_uj.min()), "uj_max": float(per_image_uj.max()),
         "per_layer": per_layer,
         "per_kind": {k: float(mean_layer_kind[:, j].sum()) for j, k in enumerate(KINDS)},
         "sops_per_image": sops_img,
         "pj_per_sop": total * 1e6 / sops_img if sops_img else None,
         "cycles_per_image": float(cycles.sum(1).mean()),
         "node_nm": node_nm, "pe": int(pe or table.value("pe")), "table": table.path,
         "uj_on_chip": total - float(mean_layer_kind[:, KINDS.index("dram")].sum()),
         "images": int(energies.shape[0])}
    if dataset in PAPER_VGG16_UJ:
        r["paper_vgg16_uj"] = PAPER_VGG16_UJ[dataset]
    return r


def write_plot(path, summary: dict, spike_hist: torch.Tensor, T: int):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    layers = [f"{p['layer']}:{p['kind'][:4]}" for p in summary["per_layer"]]
    bottom = [0.0] * len(layers)
    for k in KINDS:
        vals = [p[k] for p in summary["per_layer"]]
        a.bar(layers, vals, bottom=bottom, label=k)
        bottom = [x + y for x, y in zip(bottom, vals)]
    a.set_ylabel("uJ per image")
    a.set_title(f"{summary['uj_per_image']:.2f} uJ/image at {summary['node_nm']:g} nm "
                f"({summary['images']} images)")
    a.legend(fontsize=7)
    b.bar([str(t) for t in range(T)] + ["none"], spike_hist.tolist())
    b.set_xlabel("spike time t (all firing layers, after pooling)")
    b.set_ylabel("neurons per image")
    b.set_title("spike-time histogram")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
