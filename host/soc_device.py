"""The SoC as a device: the firmware's framed protocol (docs/protocol.md) over a link.

The link is anything pyserial opens (``host/link.py``): a UART on a board, or the TCP socket of
the simulated SoC. Each device method is one protocol command, except the model load, which
streams the image in acknowledged chunks (the firmware checks the whole image's CRC-32 at the
end) and shows its progress, and the spike-map read, which the protocol splits into reads of at
most ``READ_WORDS`` words.
"""
from __future__ import annotations

import struct
import time

import numpy as np

from catsnn.gateware.core_config import COUNTERS, INFO_REGS, CoreConfig, config_from_registers
from catsnn.host import protocol as P
from catsnn.host.device import DeviceInfo, DeviceResult
from catsnn.host.link import Link
from catsnn.progress import Progress

CHUNK = P.MAX_PAYLOAD - 4
READ_WORDS = 1024


class SocDevice:
    def __init__(self, url: str, timeout: float = 30.0, progress: bool = True, sim=None):
        self.url, self.progress, self.sim = url, progress, sim
        self.link = None
        try:
            self.link = Link(url, timeout=timeout)
            info = self.link.request(P.CMD_INFO)
            regs = list(struct.unpack(f"<{len(info) // 4}I", info))
            self.firmware_version = regs[0]
            self.cfg = config_from_registers(regs[1:1 + INFO_REGS])
        except BaseException:
            self.close()
            raise

    @classmethod
    def simulated(cls, cfg: CoreConfig, timeout: float = 30.0, progress: bool = True,
                  **shape):
        """A private simulated SoC (built if needed), stopped by close(); ``shape``: SDRAM,
        CPU variant (``SimulatedSoC``)."""
        from catsnn.host.simulation import SimulatedSoC
        sim = SimulatedSoC(cfg, **shape)
        try:
            return cls(sim.url, timeout=timeout, progress=progress, sim=sim)
        except BaseException:
            sim.stop()
            raise

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def __del__(self):
        self.close()

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.cfg, f"SoC at {self.url}", self.firmware_version)

    def load_model(self, image: bytes) -> int:
        t0, shown = time.monotonic(), Progress(self.progress)
        self.link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
        for off in range(0, len(image), CHUNK):
            self.link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", off) + image[off:off + CHUNK])
            done = min(len(image), off + CHUNK)
            shown.update(f"[soc] loading model {done / 1024:.0f}/{len(image) / 1024:.0f} KiB "
                         f"({done / max(time.monotonic() - t0, 1e-9) / 1024:.1f} KiB/s)",
                         final=done == len(image))
        (layers,) = struct.unpack("<I", self.link.request(P.CMD_LOAD_END))
        return layers

    def _status(self, reply: bytes) -> int:
        return struct.unpack("<I", reply)[0]

    def run(self, pixels: bytes, step: bool = False) -> int:
        self.link.request(P.CMD_IMAGE, pixels)
        return self._status(self.link.request(P.CMD_RUN, bytes([int(step)])))

    def continue_(self) -> int:
        return self._status(self.link.request(P.CMD_CONTINUE))

    def read_map(self, layer: int, words: int) -> list[int]:
        out = []
        for off in range(0, words, READ_WORDS):
            n = min(READ_WORDS, words - off)
            r = self.link.request(P.CMD_READ_MAP, struct.pack("<BIH", layer, off, n))
            out += struct.unpack(f"<{n}I", r)
        return out

    def result(self, classes: int) -> DeviceResult:
        r = self.link.request(P.CMD_RESULT, struct.pack("<H", classes))
        best, layers = r[0], r[1]
        pots = np.array(struct.unpack_from(f"<{classes}q", r, 2), dtype=np.int64)
        off = 2 + 8 * classes
        (cycles,) = struct.unpack_from("<I", r, off)
        n = len(COUNTERS)
        ctr = struct.unpack_from(f"<{n * layers}I", r, off + 4)
        counters = {name: [ctr[n * i + j] for i in range(layers)]
                    for j, name in enumerate(COUNTERS)}
        return DeviceResult(best, pots, cycles, counters)

    def stats(self) -> dict:
        l = self.link
        return {"link_bytes_per_s": (l.bytes_in + l.bytes_out) / l.seconds if l.seconds else 0.0,
                "link_bytes": l.bytes_in + l.bytes_out, "link_resent": l.resent}
