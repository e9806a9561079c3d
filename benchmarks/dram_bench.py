"""Weights in DRAM, projected from the core's own counters (prints figures; not a test).

Runs real test images through the Verilator core (the compact model on the default core, VGG-16
on a core whose memories are sized for it: ``--port core-fit``) and reads each layer's counters
(cycles, synaptic operations). Then, for the dataflow the DRAM issue plans (each layer's
weights streamed from DRAM once per pass, in the lane-group layout of the model image: G bus
words of 32 bits per weight word of P lanes), it prints per model: cycles per image, DRAM bytes
per image, SOPs per cycle per lane, and for each board's memory whether the lanes (compute) or
the DRAM limits each layer, with the images/s that gives at the board's 40 MHz system clock, for
one image per weight pass and for a batch of 4.

It also measures the DRAM path as built (``--port core-dram``: the core a DRAM board gets,
weights staged per program entry from a memory model with 4 wait states per bus read, double
buffered, big layers in tiles): cycles per image and, per layer, whether its cycles grew over
the resident core's (DRAM-bound: the copy of the next entry's weights outlasts this entry's
compute) or not (lanes). The projection's DRAM figures are peak bytes per system
clock times the efficiency LiteDRAM reached on sequential reads in simulation
(../shared/notes/toolchain.md): ULX3S 16-bit SDR 95 %, Colorlight i5 32-bit SDR 96 %,
OrangeCrab 16-bit DDR3 at 1:2 (DRAM clock twice the system clock) 75 %.

    .venv/bin/python benchmarks/dram_bench.py --images 2 [--json benchmarks/results/dram_bench.json]
"""
import argparse
import json
import sys
from pathlib import Path

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware.core_config import lane_groups
from catsnn.gateware.placement import plan_model
from catsnn.host.device import core_config_for, open_device
from catsnn.host.driver import CoreDriver

SYS_MHZ = 40.0
# board -> (peak bytes per system clock, sequential-read efficiency, DRAM bytes)
BOARDS = {"ULX3S (SDR x16)": (2.0, 0.95, 32 << 20),
          "Colorlight i5 (SDR x32)": (4.0, 0.96, 8 << 20),
          "OrangeCrab (DDR3 x16, 1:2)": (8.0, 0.75, 128 << 20)}
BATCHES = (1, 4)


def measure(model, port, pe, x):
    art = load_artifact(model)
    cfg = core_config_for(port, pe, art)
    dev = open_device(port, pe=pe, art=art)
    try:
        drv = CoreDriver(dev, art)
        runs = [drv.run_image(img) for img in x]
    finally:
        dev.close()
    layers = len(runs[0].counters["cycles"])
    cycles = [sum(r.counters["cycles"][i] for r in runs) / len(runs) for i in range(layers)]
    sops = [sum(r.counters["sops"][i] for r in runs) / len(runs) for i in range(layers)]
    g = lane_groups(pe)
    wbytes = [p.weight_words * g * 4 for p in plan_model(art, cfg)]
    return {"model": model, "port": port, "pe": pe, "core": cfg.summary(),
            "cycles_per_layer": cycles, "sops_per_layer": sops, "weight_bytes_per_layer": wbytes}


def project(m, peak, eff, batch):
    bw = peak * eff
    per_layer = []
    for c, b in zip(m["cycles_per_layer"], m["weight_bytes_per_layer"]):
        dram = b / bw
        per_layer.append({"compute": c * batch, "dram": dram,
                          "bound": "DRAM" if dram > c * batch else "lanes"})
    total = sum(max(p["compute"], p["dram"]) for p in per_layer) / batch
    return total, per_layer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--pe", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    x = load_split(a.data, train=False).images[:a.images]
    res = [measure("models/compact-cifar10.catsnn", "core", a.pe, x),
           measure("models/vgg16-cifar10.catsnn.xz", "core-fit", a.pe, x)]
    for m in res:
        built = measure(m["model"], "core-dram", a.pe, x)
        m["dram_path"] = {"core": built["core"], "cycles_per_layer": built["cycles_per_layer"],
                          "bound_per_layer": ["DRAM" if d > 1.1 * c else "lanes" for d, c in
                                              zip(built["cycles_per_layer"],
                                                  m["cycles_per_layer"])]}
        cyc, sops, wb = (sum(m[k]) for k in ("cycles_per_layer", "sops_per_layer",
                                             "weight_bytes_per_layer"))
        print(f"{m['model']} on the Verilator core ({m['core']}), {a.images} images")
        print(f"  cycles per image {cyc:,.0f}; SOPs per cycle per lane "
              f"{sops / cyc / a.pe:.3f}; DRAM bytes per image (weights once) {wb:,}")
        d = m["dram_path"]
        dcyc = sum(d["cycles_per_layer"])
        print(f"  as built, weights in DRAM (--port core-dram: {d['core']}): {dcyc:,.0f} "
              f"cycles per image, {SYS_MHZ * 1e6 / dcyc:.2f} images/s at {SYS_MHZ:.0f} MHz, "
              f"{d['bound_per_layer'].count('DRAM')}/{len(d['bound_per_layer'])} layers "
              f"DRAM-bound (their cycles over 1.1x the resident core's)")
        m["projection"] = {}
        for board, (peak, eff, size) in BOARDS.items():
            fits = wb <= size
            for b in BATCHES:
                total, per_layer = project(m, peak, eff, b)
                dram_bound = sum(p["bound"] == "DRAM" for p in per_layer)
                m["projection"][f"{board}, batch {b}"] = {
                    "cycles_per_image": total, "images_per_s": SYS_MHZ * 1e6 / total,
                    "layers_dram_bound": dram_bound, "weights_fit_dram": fits}
                print(f"  {board:28s} batch {b}: {total:>12,.0f} cycles/image, "
                      f"{SYS_MHZ * 1e6 / total:6.2f} images/s at {SYS_MHZ:.0f} MHz, "
                      f"{dram_bound}/{len(per_layer)} layers DRAM-bound"
                      f"{'' if fits else '  (weights do not fit its DRAM)'}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
