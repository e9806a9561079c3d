"""The evaluation backends: one interface, three kinds.

A backend turns a batch of uint8 images into a ``BackendOutput``: every firing layer's spike
times (uint8, after pooling) and the last layer's potentials (int64, units of 2^-F).

* ``reference``: the integer reference SNN (reference/snn.py), the specification;
* ``ann``: the CAT-trained network in PyTorch, exact mode (float64);
* ``device`` (also named ``soc``): the device at ``--port`` (host/device.py: ``core``, ``sim``, a
  socket or a UART) through the one driver (host/driver.py); ``core`` is ``device`` at ``core``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError
from catsnn.numerics import spike_time_from_value
from catsnn.reference.snn import ReferenceSNN


@dataclass
class BackendOutput:
    spike_times: list                 # per firing layer, uint8 (N, C, H, W)
    potentials: torch.Tensor          # int64 (N, classes)
    sops: torch.Tensor | None = None  # int64 (N, layers), where the backend counts them
    notes: list = field(default_factory=list)  # per-batch remarks that make images mismatch
    bad_images: torch.Tensor | None = None     # bool (N,): images the backend itself flags
    cycles: torch.Tensor | None = None         # int64 (N,): hardware cycles per image

    @property
    def predictions(self):
        return self.potentials.argmax(1)


@dataclass
class EvalOptions:
    check: bool = False               # step mode on devices: every layer's map read back
    pe: int = 16                      # P of the Verilator core / simulated SoC
    port: str | None = None           # the device (host/device.py: open_device)
    timeout: float = 30.0             # per device reply
    progress: bool = True


class Backend(Protocol):
    name: str
    batch: int                        # images per run() call (progress granularity)

    def run(self, pixels: torch.Tensor) -> BackendOutput: ...

    def info(self) -> dict:
        """Figures to report beside the accuracy (P, load time, link figures)."""

    def close(self) -> None: ...


class ReferenceBackend:
    name, batch = "reference", 250

    def __init__(self, art: ModelArtifact):
        self.snn = ReferenceSNN(art)

    def run(self, pixels):
        r = self.snn.run(pixels)
        return BackendOutput(r.spike_times, r.potentials, r.sops)

    def info(self):
        return {}

    def close(self):
        pass


class AnnBackend:
    """The CAT-trained network in PyTorch, exact mode: float64, weights from the artifact."""
    name, batch = "ann", 250

    def __init__(self, art: ModelArtifact):
        from catsnn.training.export import ann_from_artifact
        self.art = art
        self.net = ann_from_artifact(art, torch.float64)

    @torch.no_grad()
    def run(self, pixels):
        logits, acts = self.net(pixels.double() / 256.0, return_potentials_per_layer=True)
        times = [spike_time_from_value(a, self.art.T).to(torch.uint8) for a in acts]
        scaled = logits * 2.0 ** self.art.frac_bits
        rounded = scaled.round()
        bad = (scaled != rounded).any(1)  # a potential off the 2^-F grid cannot equal the SNN
        out = BackendOutput(times, rounded.to(torch.int64), bad_images=bad)
        if bad.any():
            out.notes.append(f"{int(bad.sum())} images with potentials off the 2^-F grid")
        return out

    def info(self):
        return {}

    def close(self):
        pass


class DeviceBackend:
    """A model on a device, one image at a time; with --check every layer's spike map is read
    back in step mode."""
    batch = 10

    def __init__(self, name: str, art: ModelArtifact, port: str, opts: EvalOptions):
        from catsnn.host.device import open_device
        from catsnn.host.driver import CoreDriver
        self.name, self.with_maps = name, opts.check
        self.device = open_device(port, pe=opts.pe, timeout=opts.timeout,
                                  progress=opts.progress)
        try:
            self.driver = CoreDriver(self.device, art)
        except BaseException:
            self.device.close()
            raise
        if port != "core":
            self.batch = 1            # seconds per image: progress after every image

    def run(self, pixels):
        maps, pots, sops, cycles = [], [], [], []
        for img in pixels:
            r = self.driver.run_image(img, with_maps=self.with_maps)
            maps.append(r.spike_times)
            pots.append(r.potentials)
            sops.append(r.counters["sops"])
            cycles.append(r.cycles)
        times = [torch.stack(per_layer) for per_layer in zip(*maps)] if self.with_maps else []
        return BackendOutput(times, torch.stack(pots), torch.tensor(sops, dtype=torch.int64),
                             cycles=torch.tensor(cycles, dtype=torch.int64))

    def info(self):
        d = self.device.info()
        return {"pe": d.cfg.pe, "device": d.description, "model_load_s": self.driver.load_s,
                **self.device.stats()}

    def close(self):
        self.device.close()


BACKENDS = ("reference", "ann", "core", "device", "soc")


def make_backend(name: str, art: ModelArtifact, opts: EvalOptions) -> Backend:
    if name == "reference":
        return ReferenceBackend(art)
    if name == "ann":
        return AnnBackend(art)
    if name == "core":
        return DeviceBackend("core", art, "core", opts)
    if name in ("device", "soc"):
        if not opts.port:
            raise UserError(f"--backend {name} needs --port: 'core', 'sim', a serial device or "
                            f"socket://HOST:PORT")
        return DeviceBackend(name, art, opts.port, opts)
    raise UserError(f"backend {name!r} is not available (one of {', '.join(BACKENDS)})")
