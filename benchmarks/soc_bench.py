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
from catsnn.host.simulation import SimulatedSoC, build_sim
from catsnn.host.soc_backend import SocBackend


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
    cfg = CoreConfig.for_arch("compact", 16)
    t0 = time.perf_counter()
    build_sim(cfg)
    build_s = time.perf_counter() - t0
    out = {"model": a.model, "images": a.images, "build_s": build_s}
    with SimulatedSoC(cfg) as sim:
        be = SocBackend(art, sim.url, check=False, progress=False)
        try:
            stats0 = be.link_stats()
            out["model_load_s"] = be.load_s
            out["model_load_bytes_per_s"] = stats0["link_bytes"] / be.load_s
            l0 = (be.link.bytes_in + be.link.bytes_out, be.link.seconds)
            t0 = time.perf_counter()
            r = be.run(x)
            dt = time.perf_counter() - t0
            out["images_per_s"] = len(x) / dt
            out["cycles_per_image"] = float(r.cycles.float().mean())
            be.with_maps = True
            t0 = time.perf_counter()
            be.run(x[:max(1, len(x) // 5)])
            out["images_per_s_with_check"] = max(1, len(x) // 5) / (time.perf_counter() - t0)
            l1 = (be.link.bytes_in + be.link.bytes_out, be.link.seconds)
            out["link_bytes_per_s_running"] = (l1[0] - l0[0]) / (l1[1] - l0[1])
        finally:
            be.close()
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
