"""Core configurations for boards: chips smaller than the compact model needs, and cores whose
weights live in the board's DRAM (see gateware/fit.py)."""
import dataclasses

from catsnn.errors import UserError
from catsnn.gateware.core_config import (COMPACT_NETWORK, VGG16_NETWORK, CoreConfig, ceil_div,
                                         clog2)
from catsnn.gateware.fit import DRAM_L2, ECP5, dram_brams, largest_weight_depth, soc_brams
from catsnn.gateware.placement import tile_groups

# the networks a DRAM core is sized for, largest first: a chip gets the first set it holds
DRAM_NETWORKS = [("VGG-16", VGG16_NETWORK), ("compact", COMPACT_NETWORK)]
MAX_PROGRAM_ENTRIES = 255          # the status register's entry field is 8 bits


def reduced_config(device: str, pe: int, ethernet: bool = False) -> CoreConfig:
    """The compact model's configuration with membrane and spike-map depths halved until the SoC
    fits the device's block RAM with at least 1024 weight words per bank, then the weight memory
    grown to the largest depth that still fits."""
    cfg = dataclasses.replace(CoreConfig.compact(pe), weight_depth=1024)
    while soc_brams(cfg, ethernet) > ECP5[device]["brams"]:
        if cfg.membrane_depth <= 64:
            raise UserError(f"{device}: no core with P = {pe} fits its "
                            f"{ECP5[device]['brams']} block RAMs; try a smaller --pe")
        cfg = dataclasses.replace(cfg, membrane_depth=cfg.membrane_depth // 2,
                                  map_depth=max(64, cfg.map_depth // 2))
    return largest_weight_depth(cfg, device, ethernet)


def board_core_config(device: str, pe: int, ethernet: bool = False) -> CoreConfig:
    """Every ECP5 target's rule: an 85F holds the compact model's configuration (a P it cannot
    hold is refused by the build's fit check, not silently shrunk); smaller chips get the
    reduced core. ``ethernet``: the SoC also carries LiteEth (its block RAMs count)."""
    if ECP5[device]["brams"] >= ECP5["LFE5U-85F"]["brams"]:
        return CoreConfig.compact(pe)
    return reduced_config(device, pe, ethernet)


def tiled_config(networks, pe: int, fc_whole: bool = True) -> CoreConfig:
    """A core with external weights that runs every network of ``networks`` = [(convs, fc_in,
    classes, size), ...] in tiles: membranes for one output group of the largest map, a
    staging buffer for one group's weights of the widest layer (``fc_whole``: the fc layer
    whole; else one group of it, the fc layer in tiles too), both spike maps and the biases
    whole, a program for every tile."""
    need = dict(membrane=1, weights=1, maps=1, biases=1)
    for convs, fc_in, classes, size in networks:
        h, biases = size, 0
        for cin, cout, pool in convs:
            g = ceil_div(cout, pe)
            need["membrane"] = max(need["membrane"], h * h)
            need["weights"] = max(need["weights"], cin * 9)
            h = h // 2 if pool else h
            need["maps"], biases = max(need["maps"], g * h * h), biases + g
        need["weights"] = max(need["weights"],
                              fc_in * (ceil_div(classes, pe) if fc_whole else 1))
        need["biases"] = max(need["biases"], biases + ceil_div(classes, pe))
    cfg = CoreConfig(pe=pe, weight_depth=need["weights"], bias_depth=1 << clog2(need["biases"]),
                     membrane_depth=1 << clog2(need["membrane"]),
                     map_depth=1 << clog2(need["maps"]),
                     image_depth=max(3 * n[3] * n[3] for n in networks),
                     max_layers=MAX_PROGRAM_ENTRIES, external_weights=True)
    entries = 0
    for convs, fc_in, classes, size in networks:
        g = ceil_div(classes, pe)
        h, n = size, ceil_div(g, tile_groups(cfg, g, 1, fc_in))      # the fc layer's entries
        for cin, cout, pool in convs:
            g = ceil_div(cout, pe)
            n += ceil_div(g, tile_groups(cfg, g, h * h, cin * 9))
            h = h // 2 if pool else h
        entries = max(entries, n)
    if entries > MAX_PROGRAM_ENTRIES:
        raise UserError(f"P = {pe}: {entries} program entries, the core holds "
                        f"{MAX_PROGRAM_ENTRIES}")
    return dataclasses.replace(cfg, max_layers=entries)


def dram_core_config(device: str, pe: int, ethernet: bool = False, cpu: str = "standard",
                     l2: int = DRAM_L2) -> CoreConfig:
    """The DRAM core for a chip: sized (``tiled_config``) for the largest networks of
    DRAM_NETWORKS whose core, with the rest of the SoC (``ethernet``, ``cpu``) and LiteDRAM
    (``l2``), fits its block RAM; the fc layer's weights staged whole if they fit, else in
    tiles."""
    have = ECP5[device]["brams"]

    def need(cfg):
        return soc_brams(cfg, ethernet, cpu) + dram_brams(l2)
    for i in range(len(DRAM_NETWORKS)):
        for fc_whole in (True, False):
            try:
                cfg = tiled_config([net for _, net in DRAM_NETWORKS[i:]], pe, fc_whole)
            except UserError:            # too many tiles for the program at this P
                continue
            if need(cfg) <= have:
                return cfg
    raise UserError(f"{device}: no DRAM core with P = {pe} fits its {have} block RAMs "
                    f"(the compact model's needs "
                    f"{need(tiled_config([COMPACT_NETWORK], pe, False))}); try a smaller --pe")
