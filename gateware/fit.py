"""Will a core configuration fit a chip? A block RAM estimate made before any tool runs.

Block RAM is what limits the core on every board (logic is not: the P = 16 core takes 13 % of an
ECP5-85F's LUTs), so `catsnn build` checks it first and refuses, naming each memory, a
configuration that cannot fit, instead of failing minutes later inside nextpnr.

ECP5 DP16KD: 18 kbit, as 16384x1, 8192x2, 4096x4, 2048x9, 1024x18 or 512x36; a memory of width W
and depth D takes the cheapest ceil(W/w) * ceil(D/d). Yosys puts memories of at most 32 words in
LUT RAM (the biases). Checked against synthesis: the P = 16 compact core is estimated at 176
DP16KD, Yosys used 176 (benchmarks/results/synth_core_p16_ecp5_85k.json). The rest of the SoC
(VexRiscv's caches, the firmware ROM, 16 KiB SRAM) took 24 on the ULX3S build.
"""
from __future__ import annotations

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig, ceil_div

DP16KD_SHAPES = [(1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)]
LUTRAM_MAX_DEPTH = 32
SOC_BRAMS = 24                # measured: ULX3S-85F SoC 200 DP16KD, its core alone 176
# VexRiscv's caches, part of SOC_BRAMS: "standard" 4 KiB instruction + 4 KiB data cache and
# their tags (VexRiscv.v: 2 + 4 + 2 memories), "lite" a 2 KiB instruction cache and its tags
CPU_BRAMS = {"standard": 8, "lite": 2}
ETHERNET_BRAMS = 6            # LiteEth + Etherbone FIFOs + the guard's buffer (see boards/README)
# LiteDRAM (and the firmware's DRAM code in the ROM): 2 without an L2 cache (the Colorlight i5
# --dram build: 56 used = 36 core + 18 SoC with the lite CPU + 2), 15 with an 8 KiB L2 (the
# ULX3S --dram build: 156 used, 141 estimated without)
DRAM_BRAMS = 15
DRAM_L2 = 8192                # the L2 size DRAM_BRAMS was measured with
L2_BRAMS_PER_8K = 13

# DP16KD blocks and LUT4s per ECP5 device (Lattice ECP5 family data sheet)
ECP5 = {"LFE5U-12F": {"brams": 32, "luts": 12288},
        "LFE5U-25F": {"brams": 56, "luts": 24288},
        "LFE5U-45F": {"brams": 108, "luts": 43848},
        "LFE5U-85F": {"brams": 208, "luts": 83640},
        "LFE5UM5G-45F": {"brams": 108, "luts": 43848},
        "LFE5UM5G-85F": {"brams": 208, "luts": 83640}}


def memory_brams(width: int, depth: int) -> int:
    if depth <= LUTRAM_MAX_DEPTH:
        return 0
    return min(ceil_div(width, w) * ceil_div(depth, d) for w, d in DP16KD_SHAPES)


def core_brams(cfg: CoreConfig) -> dict:
    """memory name -> DP16KD blocks (all copies of it)."""
    return {name: count * memory_brams(width, depth)
            for name, (width, depth, count) in cfg.memory_shapes().items()}


def soc_brams(cfg: CoreConfig, ethernet: bool = False, cpu: str = "standard") -> int:
    return (sum(core_brams(cfg).values()) + SOC_BRAMS - CPU_BRAMS["standard"] + CPU_BRAMS[cpu]
            + (ETHERNET_BRAMS if ethernet else 0))


def dram_brams(l2: int = DRAM_L2) -> int:
    """LiteDRAM's block RAMs with an L2 cache of ``l2`` bytes."""
    return DRAM_BRAMS - L2_BRAMS_PER_8K + ceil_div(l2 * L2_BRAMS_PER_8K, 8192)


def check_fit(cfg: CoreConfig, device: str, what: str, ethernet: bool = False,
              dram: bool = False, cpu: str = "standard", l2: int = DRAM_L2) -> int:
    """The estimated DP16KD count of the SoC with this core; UserError if it exceeds the chip."""
    if device not in ECP5:
        raise UserError(f"{what}: no block RAM figures for device {device!r}")
    need = soc_brams(cfg, ethernet, cpu) + (dram_brams(l2) if dram else 0)
    have = ECP5[device]["brams"]
    if need > have:
        parts = ", ".join(f"{n} {b}" for n, b in core_brams(cfg).items() if b)
        raise UserError(f"{what}: does not fit: needs about {need} block RAMs (DP16KD), the "
                        f"{device} has {have} ({need - have} too many; core: {parts}; rest of "
                        f"the SoC {need - sum(core_brams(cfg).values())}). Try another --pe or "
                        f"a larger device")
    return need


def largest_weight_depth(cfg: CoreConfig, device: str, ethernet: bool = False) -> CoreConfig:
    """cfg with the weight memory grown (or shrunk) to the largest depth, in steps of 1024
    words per bank, that leaves the SoC inside the device's block RAM."""
    import dataclasses
    have = ECP5[device]["brams"]
    best = None
    for depth in range(1024, 1 << 17, 1024):
        c = dataclasses.replace(cfg, weight_depth=depth)
        if soc_brams(c, ethernet) > have:
            break
        best = c
    if best is None:
        raise UserError(f"{device}: even 1024 weight words per bank do not fit "
                        f"({soc_brams(dataclasses.replace(cfg, weight_depth=1024), ethernet)} "
                        f"block RAMs "
                        f"needed, {have} there)")
    return best
