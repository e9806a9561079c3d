"""`catsnn eval --backend soc`: the model and images go over the link to the SoC's firmware.

The host asks the device what core it has (INFO), places the model for that core
(gateware/core_config.py: the same code as every other consumer of the artifact), streams the
model image in acknowledged chunks (whole-image CRC-32 checked by the firmware), then per image:
IMAGE, RUN (step mode with --check: every layer's spike map is read back with READ_MAP), RESULT.
"""
from __future__ import annotations

import struct
import sys
import time

import torch

from catsnn.artifact import ModelArtifact
from catsnn.gateware.core_config import (INFO_REGS, STATUS_DONE, STATUS_PAUSED,
                                         config_from_registers, model_image, plan_model,
                                         spike_map, spike_map_bus_words)
from catsnn.host import protocol as P
from catsnn.host.link import Link, LinkError

CHUNK = P.MAX_PAYLOAD - 4
READ_WORDS = 1024


class SocBackend:
    name = "soc"
    batch = 1          # seconds per image in the simulation: progress after every image

    def __init__(self, art: ModelArtifact, port: str, check: bool = False, timeout: float = 30.0,
                 progress: bool = True):
        self.art, self.with_maps, self.progress = art, check, progress
        self.sim = None
        if port == "sim":                 # a private simulated SoC for this run
            from catsnn.host.simulation import SimulatedSoC
            self.sim = SimulatedSoC()
            port = self.sim.url
        try:
            self.link = Link(port, timeout=timeout)
            info = self.link.request(P.CMD_INFO)
            regs = list(struct.unpack(f"<{len(info) // 4}I", info))
            self.firmware_version = regs[0]
            self.cfg = config_from_registers(regs[1:1 + INFO_REGS])
            self.plans = plan_model(art, self.cfg)   # refuses a model that does not fit
            self.load_s = self._load_model()
        except BaseException:
            self.close()
            raise
        self.info = {"pe": self.cfg.pe, "model_load_s": self.load_s, "port": port}

    def close(self):
        if getattr(self, "link", None) is not None:
            self.link.close()
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def __del__(self):
        self.close()

    def _load_model(self) -> float:
        image = model_image(self.art, self.cfg)
        t0 = time.monotonic()
        self.link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
        last = 0.0
        for off in range(0, len(image), CHUNK):
            self.link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", off) + image[off:off + CHUNK])
            now = time.monotonic()
            if self.progress and (now - last > 2 or off + CHUNK >= len(image)):
                done = min(len(image), off + CHUNK)
                print(f"[soc] loading model {done / 1024:.0f}/{len(image) / 1024:.0f} KiB "
                      f"({done / max(now - t0, 1e-9) / 1024:.1f} KiB/s)", file=sys.stderr,
                      flush=True)
                last = now
        (layers,) = struct.unpack("<I", self.link.request(P.CMD_LOAD_END))
        if layers != len(self.art.layers):
            raise LinkError(f"device loaded {layers} layers, the model has {len(self.art.layers)}")
        return time.monotonic() - t0

    def _read_map(self, layer: int) -> torch.Tensor:
        cfg, p = self.cfg, self.plans[layer]
        n = spike_map_bus_words(p, cfg.pe)
        words = []
        for off in range(0, n, READ_WORDS):
            cnt = min(READ_WORDS, n - off)
            r = self.link.request(P.CMD_READ_MAP, struct.pack("<BIH", layer, off, cnt))
            words += struct.unpack(f"<{cnt}I", r)
        return spike_map(words, p, cfg.pe)

    def run_one(self, pixels: torch.Tensor):
        self.link.request(P.CMD_IMAGE, bytes(pixels.contiguous().reshape(-1).tolist()))
        (st,) = struct.unpack("<I", self.link.request(P.CMD_RUN, bytes([self.with_maps])))
        maps = []
        nl = len(self.art.layers)
        for i, l in enumerate(self.art.layers[:-1]):
            if not self.with_maps:
                break
            if not st & STATUS_PAUSED or (st >> 8) & 0xFF != i:
                raise LinkError(f"device: expected a pause after layer {i}, status {st:#x}")
            maps.append(self._read_map(i))
            (st,) = struct.unpack("<I", self.link.request(P.CMD_CONTINUE))
        if not st & STATUS_DONE:
            raise LinkError(f"device: run did not finish (status {st:#x})")
        classes = self.art.layers[-1].out_channels
        r = self.link.request(P.CMD_RESULT, struct.pack("<H", classes))
        best, layers = r[0], r[1]
        pots = torch.tensor(struct.unpack_from(f"<{classes}q", r, 2), dtype=torch.int64)
        off = 2 + 8 * classes
        (cycles,) = struct.unpack_from("<I", r, off)
        ctr = struct.unpack_from(f"<{4 * layers}I", r, off + 4)
        counters = {name: [ctr[4 * i + j] for i in range(nl)]
                    for j, name in enumerate(("cycles", "input_events", "sops", "output_spikes"))}
        if best != int(pots.argmax()):
            raise LinkError(f"device reported class {best}, its potentials say {int(pots.argmax())}")
        return maps, pots, counters, cycles

    def run(self, pixels):
        from catsnn.host.evaluate import BackendOutput
        maps, pots, sops, cycles = [], [], [], []
        for img in pixels:
            m, p, c, cy = self.run_one(img)
            maps.append(m)
            pots.append(p)
            sops.append(c["sops"])
            cycles.append(cy)
        times = [torch.stack(per_layer) for per_layer in zip(*maps)] if self.with_maps else []
        return BackendOutput(times, torch.stack(pots), torch.tensor(sops, dtype=torch.int64),
                             cycles=torch.tensor(cycles, dtype=torch.int64))

    def link_stats(self):
        l = self.link
        return {"link_bytes_per_s": (l.bytes_in + l.bytes_out) / l.seconds if l.seconds else 0.0,
                "link_bytes": l.bytes_in + l.bytes_out}
