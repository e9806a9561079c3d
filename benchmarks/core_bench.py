"""Benchmark of the log-TTFS core on the shipped compact model (prints figures; not a test).

For each P: cycles per image, synaptic operations (SOPs) per image, hardware efficiency
(SOPs per cycle / P, overall and per layer) and the Verilator simulation speed (images/s).
With --synth it also synthesises the core at P = 16 for an ECP5-85F with YoWASP Yosys +
nextpnr and prints LUT4 / FF / block RAM / multiplier counts and fmax.

    .venv/bin/python benchmarks/core_bench.py --pe 4 16 64 --images 100 [--synth]
    .venv/bin/python benchmarks/core_bench.py --pe 16 --images 40 --jobs 2
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware.core_config import CoreConfig
from catsnn.host.driver import CoreDriver
from catsnn.host.verilator_device import VerilatorDevice


def bench_pe(art, images, pe):
    sim = CoreDriver(VerilatorDevice(CoreConfig.compact(pe)), art)
    load_s = sim.load_s
    cycles, sops, layer_cycles, layer_sops = 0, 0, None, None
    t0 = time.perf_counter()
    for img in images:
        r = sim.run_image(img)
        cycles += r.cycles
        sops += sum(r.counters["sops"])
        lc, ls = torch.tensor(r.counters["cycles"]), torch.tensor(r.counters["sops"])
        layer_cycles = lc if layer_cycles is None else layer_cycles + lc
        layer_sops = ls if layer_sops is None else layer_sops + ls
    wall = time.perf_counter() - t0
    n = len(images)
    return {"pe": pe, "images": n, "cycles_per_image": cycles / n, "sops_per_image": sops / n,
            "efficiency": sops / cycles / pe,
            "layer_efficiency": [round(float(s) / float(c) / pe, 3)
                                 for s, c in zip(layer_sops, layer_cycles)],
            "layer_cycles_share": [round(float(c) / cycles, 3) for c in layer_cycles],
            "verilator_images_per_s": n / wall,
            "verilator_cycles_per_s": cycles / wall, "model_load_s": load_s}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/compact-cifar10.catsnn")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--pe", type=int, nargs="+", default=[4, 16, 64])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=0,
                    help="also: images/s of `catsnn eval --backend core` with 1 and with this "
                         "many simulations side by side (--check, P = 16)")
    ap.add_argument("--synth", action="store_true", help="also synthesise P = 16 for ECP5-85F")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args()
    art = load_artifact(a.model)
    images = load_split(a.data, train=False).images[:a.images]
    out = {"model": a.model, "runs": []}
    print(f"core on {a.model}, {a.images} CIFAR-10 test images")
    print(f"{'P':>3} {'cycles/img':>11} {'SOPs/img':>11} {'SOPs/cycle/P':>13} "
          f"{'Verilator img/s':>16} {'Mcycles/s':>10}  per-layer efficiency")
    for pe in a.pe:
        r = bench_pe(art, images, pe)
        out["runs"].append(r)
        print(f"{pe:>3} {r['cycles_per_image']:>11,.0f} {r['sops_per_image']:>11,.0f} "
              f"{r['efficiency']:>13.3f} {r['verilator_images_per_s']:>16.2f} "
              f"{r['verilator_cycles_per_s'] / 1e6:>10.2f}  {r['layer_efficiency']}",
              flush=True)
    if a.jobs:
        from catsnn.host.backends import EvalOptions, make_backend
        out["jobs"] = {}
        for jobs in sorted({1, a.jobs}):
            be = make_backend("core", art, EvalOptions(check=True, jobs=jobs, progress=False))
            try:
                t0 = time.perf_counter()
                be.run(images)
                rate = len(images) / (time.perf_counter() - t0)
            finally:
                be.close()
            out["jobs"][jobs] = rate
            print(f"eval --backend core --check, P = 16, --jobs {jobs}: {rate:.2f} images/s "
                  f"({len(images)} images)", flush=True)
    if a.synth:
        from catsnn.gateware.synth_core import synthesise
        rep = synthesise(CoreConfig.compact(16), "85k", Path("build/synth-p16"))
        out["synth"] = {k: v for k, v in rep.items() if k not in ("cells", "pnr_utilization")}
        print(f"ECP5-85F, P = 16: {rep['luts']} LUT4, {rep['ffs']} FF, {rep['brams']} DP16KD, "
              f"{rep['dsp_mult']} multipliers, fmax {rep['fmax_mhz']:.1f} MHz "
              f"(target {rep['target_mhz']:.0f})")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
