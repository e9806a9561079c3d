"""Core configurations for chips smaller than the compact model needs (see gateware/fit.py)."""
import dataclasses

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.fit import ECP5, largest_weight_depth, soc_brams


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
