#!/usr/bin/env python3
"""Soak test of the simulated SoC under link faults (not a CI test; its log is committed).

A simulated SoC runs on loopback; a second process sits between it and the host as a TCP proxy
and damages the traffic at a bounded rate, in both directions: a flipped byte, a dropped byte,
a duplicated byte, or a short burst of garbage, one fault per ``--fault-every`` bytes on average
(a seeded random choice). The host loads the shipped model and runs ``--images`` CIFAR-10 test
images with the layer-by-layer check through the proxy. Every fault must end in a retry (the
firmware answers a resent request without acting twice) or in one clear error for that image;
no image may differ from the reference.

    .venv/bin/python scripts/soak_soc.py --images 300 --log models/compact-cifar10/measurements/soak-soc.log
"""
import argparse
import json
import multiprocessing
import random
import select
import socket
import sys
import time
from pathlib import Path

KINDS = ("flip", "drop", "duplicate", "garbage")


def proxy(listen_port, target_port, fault_every, seed, counts, stop):
    """Forward one client at a time between 127.0.0.1:listen_port and 127.0.0.1:target_port,
    damaging the bytes. counts: a shared dict of faults per (direction, kind)."""
    rng = random.Random(seed)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(1)
    srv.settimeout(0.5)
    while not stop.is_set():
        try:
            client, _ = srv.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection(("127.0.0.1", target_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pairs = {client: (upstream, "to device"), upstream: (client, "to host")}
        open_ = True
        while open_ and not stop.is_set():
            ready, _, _ = select.select(list(pairs), [], [], 0.5)
            for s in ready:
                data = s.recv(65536)
                if not data:
                    open_ = False
                    break
                out, direction = pairs[s]
                data = bytearray(data)
                # a fault per fault_every bytes on average, anywhere in this chunk
                if rng.random() < len(data) / fault_every:
                    kind, i = rng.choice(KINDS), rng.randrange(len(data))
                    if kind == "flip":
                        data[i] ^= 1 << rng.randrange(8)
                    elif kind == "drop":
                        del data[i]
                    elif kind == "duplicate":
                        data.insert(i, data[i])
                    else:
                        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17)))
                    key = f"{direction} {kind}"
                    counts[key] = counts.get(key, 0) + 1
                if data:
                    out.sendall(bytes(data))
        client.close()
        upstream.close()
    srv.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/compact-cifar10.catsnn")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--fault-every", type=int, default=200_000,
                    help="mean bytes between two faults (each direction)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per reply")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", type=Path, default=None, help="also write the log here")
    a = ap.parse_args()

    import numpy as np

    from catsnn.artifact import load_artifact
    from catsnn.data import load_split
    from catsnn.errors import UserError
    from catsnn.gateware.core_config import CoreConfig
    from catsnn.host.driver import CoreDriver
    from catsnn.host.simulation import SimulatedSoC, free_port
    from catsnn.host.soc_device import SocDevice
    from catsnn.reference.snn import ReferenceSNN

    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    art = load_artifact(a.model)
    split = load_split(a.data, train=False)
    ref = ReferenceSNN(art)
    manager = multiprocessing.Manager()
    counts, stop = manager.dict(), manager.Event()
    t0 = time.monotonic()
    with SimulatedSoC(CoreConfig.compact(16)) as sim:
        port = free_port()
        p = multiprocessing.Process(target=proxy, args=(port, sim.port, a.fault_every, a.seed,
                                                        counts, stop), daemon=True)
        p.start()
        time.sleep(1)
        log(f"soak: {a.model}, {a.images} images with --check through a fault proxy "
            f"(one fault per {a.fault_every:,} bytes per direction on average, seed {a.seed}), "
            f"reply timeout {a.timeout} s")
        dev = None
        ok = bad = errors = 0
        for attempt in range(5):            # the model load itself may meet faults
            try:
                dev = SocDevice(f"socket://127.0.0.1:{port}", timeout=a.timeout, progress=False)
                drv = CoreDriver(dev, art)
                break
            except UserError as e:
                log(f"soak: model load failed ({e}); again")
                if dev is not None:
                    dev.close()
                dev = None
        if dev is None:
            log("soak: the model could not be loaded")
            return 1
        log(f"soak: model loaded in {drv.load_s:.0f} s")
        for i in range(a.images):
            x = split.images[i]
            try:
                r = drv.run_image(x, with_maps=True)
            except UserError as e:
                errors += 1
                log(f"soak: image {i}: clear error: {e}")
                continue
            want = ref.run(x[None])
            same = all(np.array_equal(w[0].numpy(), g)
                       for w, g in zip(want.spike_times, r.spike_times)) \
                and np.array_equal(want.potentials[0].numpy(), r.potentials)
            ok, bad = ok + same, bad + (not same)
            if not same:
                log(f"soak: image {i}: MISMATCH")
            if (i + 1) % 25 == 0 or i + 1 == a.images:
                log(f"soak: {i + 1}/{a.images} images, {bad} mismatches, {errors} errors, "
                    f"{sum(counts.values())} faults injected, {dev.link.resent} requests resent, "
                    f"{time.monotonic() - t0:.0f} s")
        stop.set()
        p.join(5)
        summary = {"images": a.images, "bit_exact": ok, "mismatches": bad,
                   "clear_errors": errors, "faults_injected": dict(sorted(counts.items())),
                   "faults_total": sum(counts.values()), "requests_resent": dev.link.resent,
                   "wall_s": round(time.monotonic() - t0)}
        dev.close()
    log("soak: " + json.dumps(summary))
    if a.log:
        a.log.write_text("\n".join(lines) + "\n")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
