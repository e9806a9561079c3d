"""Benchmark of the simulated SoC (prints figures; not a test): build time (cold or cached),
model load time over the UART, images/s with and without the layer-by-layer check, link
throughput, and cycles per image.

    .venv/bin/python benchmarks/soc_bench.py --images 10
"""
import argparse
import json
import sys
import time
from pathlib import Path

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware.core_config import CoreConfig
from catsnn.host.driver import CoreDriver
from catsnn.host.simulation import SimulatedSoC, build_sim
from catsnn.host.soc_device import SocDevice


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/compact-cifar10.catsnn")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    art = load_artifact(a.model)
    test = load_split(a.data, train=False)
    x = test.images[:a.images]
    cfg = CoreConfig.compact(16)
    t0 = time.perf_counter()
    build_sim(cfg)
    build_s = time.perf_counter() - t0
    out = {"model": a.model, "images": a.images, "build_s": build_s}
    with SimulatedSoC(cfg) as sim:
        dev = SocDevice(sim.url, progress=False)
        try:
            drv = CoreDriver(dev, art)
            out["model_load_s"] = drv.load_s
            out["model_load_bytes_per_s"] = dev.stats()["link_bytes"] / drv.load_s
            l0 = (dev.link.bytes_in + dev.link.bytes_out, dev.link.seconds)
            t0 = time.perf_counter()
            cycles = [drv.run_image(img).cycles for img in x]
            dt = time.perf_counter() - t0
            out["images_per_s"] = len(x) / dt
            out["cycles_per_image"] = sum(cycles) / len(cycles)
            t0 = time.perf_counter()
            for img in x[:max(1, len(x) // 5)]:
                drv.run_image(img, with_maps=True)
            out["images_per_s_with_check"] = max(1, len(x) // 5) / (time.perf_counter() - t0)
            l1 = (dev.link.bytes_in + dev.link.bytes_out, dev.link.seconds)
            out["link_bytes_per_s_running"] = (l1[0] - l0[0]) / (l1[1] - l0[1])
        finally:
            dev.close()
    print(f"simulated SoC (VexRiscv + core P = 16, Verilator), {a.model}")
    print(f"  build (cached if 0 s)      {out['build_s']:.0f} s")
    print(f"  model load                 {out['model_load_s']:.1f} s "
          f"({out['model_load_bytes_per_s'] / 1024:.1f} KiB/s over the simulated UART)")
    print(f"  images/s                   {out['images_per_s']:.2f} "
          f"({out['cycles_per_image']:,.0f} core cycles per image)")
    print(f"  images/s with --check      {out['images_per_s_with_check']:.2f} "
          f"(every layer's spike map read back)")
    print(f"  link while running         {out['link_bytes_per_s_running'] / 1024:.1f} KiB/s")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
