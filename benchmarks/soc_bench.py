"""Benchmark of the simulated SoC over its two links, in the same run on the same machine (prints
figures; not a test): build time (cold or cached), model load time and link throughput, images/s
with and without the layer-by-layer check, and cycles per image, for the UART (the firmware's
framed protocol) and Ethernet (guarded Etherbone over UDP, in a private network namespace: root).

    .venv/bin/python benchmarks/soc_bench.py --images 10 [--links uart,ethernet]
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


def open_device(sim, link):
    if link == "uart":
        from catsnn.host.soc_device import SocDevice
        return SocDevice(sim.url, progress=False)
    from catsnn.host.udp_device import UdpDevice
    return UdpDevice(f"udp://{sim.soc_ip}", sock=sim.udp_socket())


def measure(link, cfg, art, x):
    ethernet = link == "ethernet"
    t0 = time.perf_counter()
    build_sim(cfg, ethernet=ethernet)
    out = {"build_s": time.perf_counter() - t0}
    with SimulatedSoC(cfg, ethernet=ethernet) as sim:
        dev = open_device(sim, link)
        try:
            drv = CoreDriver(dev, art)
            s0 = dev.stats()
            out["model_load_s"] = drv.load_s
            out["model_load_bytes_per_s"] = s0["link_bytes"] / drv.load_s
            t0 = time.perf_counter()
            cycles = [drv.run_image(img).cycles for img in x]
            out["images_per_s"] = len(x) / (time.perf_counter() - t0)
            out["cycles_per_image"] = sum(cycles) / len(cycles)
            n = max(1, len(x) // 2)
            t0 = time.perf_counter()
            for img in x[:n]:
                drv.run_image(img, with_maps=True)
            out["images_per_s_with_check"] = n / (time.perf_counter() - t0)
            s1 = dev.stats()
            out["link_bytes_running"] = s1["link_bytes"] - s0["link_bytes"]
            out["link_resent"] = s1["link_resent"]
        finally:
            dev.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/compact-cifar10.catsnn")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--links", default="uart,ethernet")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    art = load_artifact(a.model)
    x = load_split(a.data, train=False).images[:a.images]
    cfg = CoreConfig.compact(16)
    links = a.links.split(",")
    res = {link: measure(link, cfg, art, x) for link in links}
    print(f"simulated SoC (VexRiscv + core P = 16, Verilator), {a.model}, {a.images} images")
    rows = [("build (0 s: cached)", "build_s", "{:.0f} s"),
            ("model load", "model_load_s", "{:.1f} s"),
            ("model load throughput", "model_load_bytes_per_s", "{:.0f} B/s"),
            ("images/s", "images_per_s", "{:.3f}"),
            ("images/s with --check", "images_per_s_with_check", "{:.3f}"),
            ("core cycles per image", "cycles_per_image", "{:,.0f}"),
            ("requests resent", "link_resent", "{}")]
    print(f"  {'':26s}" + "".join(f"{link:>14s}" for link in links))
    for label, key, fmt in rows:
        print(f"  {label:26s}" + "".join(f"{fmt.format(res[k][key]):>14s}" for k in links))
    if "uart" in res and "ethernet" in res:
        print(f"  model load: Ethernet {res['uart']['model_load_s'] / res['ethernet']['model_load_s']:.1f}x "
              f"faster than the UART")
    if a.json:
        a.json.write_text(json.dumps({"model": a.model, "images": a.images, **res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
