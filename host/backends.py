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

import numpy as np
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
    pe: int | None = None             # P of the Verilator core / simulated SoC (None: 16, or the board's)
    port: str | None = None           # the device (host/device.py: open_device)
    timeout: float = 30.0             # per device reply
    progress: bool = True
    jobs: int = 1                     # devices side by side (core, sim), one process each


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
        if art.coding.timed:        # rate, phase, burst: per layer the window's totals
            from catsnn.reference.coded_snn import CodedSNN
            self.snn = CodedSNN(art)
        else:
            self.snn = ReferenceSNN(art)

    def run(self, pixels):
        r = self.snn.run(pixels)
        maps = r.totals if hasattr(r, "totals") else r.spike_times
        return BackendOutput(maps, r.potentials, r.sops)

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
        if self.art.coding.timed:
            return self._coded(logits, acts)
        times = [spike_time_from_value(a, self.art.T).to(torch.uint8) for a in acts]
        scaled = logits * 2.0 ** self.art.frac_bits
        rounded = scaled.round()
        bad = (scaled != rounded).any(1)  # a potential off the 2^-F grid cannot equal the SNN
        out = BackendOutput(times, rounded.to(torch.int64), bad_images=bad)
        if bad.any():
            out.notes.append(f"{int(bad.sum())} images with potentials off the 2^-F grid")
        return out

    def _coded(self, logits, acts):
        """A timed coding's ANN twin: per layer the totals its activation stands for (units
        of the smallest spike value) and the potentials the output layer would integrate
        over the window; not equal to the SNN by construction (docs/numerics.md)."""
        from catsnn.training.cat_layers import coded_levels
        art = self.art
        s, _ = coded_levels(art.coding, art.T)
        totals = [torch.round(a * s).to(torch.int64) for a in acts]
        pots = torch.round(logits * art.coding.periods(art.T) * 2.0 ** art.frac_bits)
        return BackendOutput(totals, pots.to(torch.int64))

    def info(self):
        return {}

    def close(self):
        pass


class DeviceBackend:
    """A model on a device, one image at a time; with --check every layer's spike map is read
    back in step mode. With ``jobs`` > 1 (devices that can be started more than once: ``core``,
    ``sim``), each batch is split over that many devices in worker processes and the results
    are merged in order."""
    batch = 10

    def __init__(self, name: str, art: ModelArtifact, port: str, opts: EvalOptions,
                 device=None):
        """``device``: an open device to use (and close) instead of opening ``port``."""
        from catsnn.host.device import LOCAL_PORTS, is_local_port, open_device
        from catsnn.host.driver import CoreDriver
        self.name, self.with_maps = name, opts.check
        if opts.jobs < 1:
            raise UserError(f"--jobs {opts.jobs}: must be at least 1")
        if opts.jobs > 1 and not is_local_port(port):
            raise UserError(f"--jobs {opts.jobs}: a link ({port}) is one device; side by side "
                            f"runs need --port {', '.join(LOCAL_PORTS)}")
        self.device = self.pool = None
        try:
            if opts.jobs > 1:         # the workers hold the devices
                self.pool = DevicePool(art, port, opts)
            else:
                self.device = device or open_device(port, pe=opts.pe, timeout=opts.timeout,
                                                    progress=opts.progress, art=art)
                self.driver = CoreDriver(self.device, art)
        except BaseException:
            self.close()
            raise
        if port != "core":
            self.batch = 1            # seconds per image: progress after every image
        self.batch *= opts.jobs

    def run(self, pixels):
        if self.pool is not None:
            runs = self.pool.run(pixels, self.with_maps)
        else:
            runs = [run_image(self.driver, i, img, self.with_maps)
                    for i, img in enumerate(pixels)]
        times = [torch.from_numpy(np.stack(per_layer))
                 for per_layer in zip(*[r.spike_times for r in runs])] if self.with_maps else []
        return BackendOutput(times, torch.from_numpy(np.stack([r.potentials for r in runs])),
                             torch.tensor([r.counters["sops"] for r in runs], dtype=torch.int64),
                             cycles=torch.tensor([r.cycles for r in runs], dtype=torch.int64))

    def info(self):
        if self.pool is not None:
            return {**self.pool.info(), "jobs": self.pool.jobs}
        return device_info(self.device, self.driver)

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.device is not None:
            self.device.close()
            self.device = None


def device_info(device, driver) -> dict:
    d = device.info()
    return {"pe": d.cfg.pe, "device": d.description, "model_load_s": driver.load_s,
            **device.stats()}


class ImageError(UserError):
    """A device failed on one image: ``index`` is the image's place in the batch."""
    def __init__(self, index: int, message: str):
        self.index, self.message = index, message
        super().__init__(f"image {index} of the batch: {message}")

    def __reduce__(self):          # crosses the worker processes' pipe intact
        return ImageError, (self.index, self.message)


def run_image(driver, index, pixels, with_maps):
    """One image on a driver; a device error names the image."""
    try:
        return driver.run_image(pixels, with_maps=with_maps)
    except UserError as e:
        raise ImageError(index, str(e)) from None


class DevicePool:
    """``jobs`` worker processes, each with its own device and the model loaded."""

    def __init__(self, art: ModelArtifact, port: str, opts: EvalOptions):
        import multiprocessing

        from catsnn.gateware.placement import plan_model
        from catsnn.host.device import core_config_for, is_core_port, sim_shape
        # here, once: a model that does not fit is refused, and the build is made (the workers
        # then find it in the cache)
        cfg = core_config_for(port, opts.pe, art)
        plan_model(art, cfg)
        if is_core_port(port):
            from catsnn.gateware.verilator_core import build_core
            build_core(cfg, quiet=not opts.progress)
        else:
            from catsnn.host.simulation import build_sim
            build_sim(cfg, **sim_shape(port))
        self.jobs = opts.jobs
        ctx = multiprocessing.get_context("spawn")   # no forked torch or Verilator state
        self.pool = ctx.Pool(opts.jobs, initializer=_worker_init,
                             initargs=(art, port, opts.pe, opts.timeout))

    def run(self, pixels, with_maps):
        n, k = len(pixels), self.jobs
        cuts = [n * j // k for j in range(k + 1)]
        slices = [(cuts[j], pixels[cuts[j]:cuts[j + 1]], with_maps) for j in range(k)
                  if cuts[j + 1] > cuts[j]]
        return [r for part in self.pool.map(_worker_run, slices) for r in part]

    def info(self) -> dict:
        """The first worker's device figures."""
        return self.pool.apply(_worker_info)

    def close(self):
        self.pool.terminate()
        self.pool.join()


_worker_driver = None
_worker_error = None


def _worker_init(art, port, pe, timeout):
    """A worker's device. A failure is kept and raised by the first job: a pool whose
    initializer raised would start new workers forever."""
    global _worker_driver, _worker_error
    from catsnn.host.device import open_device
    from catsnn.host.driver import CoreDriver
    torch.set_num_threads(1)
    try:
        _worker_driver = CoreDriver(open_device(port, pe=pe, timeout=timeout, progress=False,
                                                art=art), art)
    except Exception as e:
        _worker_error = UserError(f"a --jobs worker could not start its device: {e}")


def _worker_info():
    if _worker_error is not None:
        raise _worker_error
    return device_info(_worker_driver.device, _worker_driver)


def _worker_run(job):
    if _worker_error is not None:
        raise _worker_error
    first, pixels, with_maps = job
    return [run_image(_worker_driver, first + i, img, with_maps) for i, img in enumerate(pixels)]


BACKENDS = ("reference", "ann", "core", "device", "soc")


def make_backend(name: str, art: ModelArtifact, opts: EvalOptions) -> Backend:
    if art.coding.timed and name not in ("reference", "ann"):
        raise UserError(f"--backend {name}: the core runs log-TTFS models only; this one is "
                        f"{art.coding.name}-coded (--backend reference or ann)")
    if name == "reference":
        return ReferenceBackend(art)
    if name == "ann":
        return AnnBackend(art)
    if name == "core":       # a Verilator core alone: --port may choose which
        from catsnn.host.device import CORE_PORTS, is_core_port
        if opts.port and not is_core_port(opts.port):
            raise UserError(f"--backend core runs a Verilator core (--port "
                            f"{', '.join(CORE_PORTS)} or core-dram:BOARD), not {opts.port!r}: "
                            f"use --backend device for other ports")
        return DeviceBackend("core", art, opts.port or "core", opts)
    if name in ("device", "soc"):
        if not opts.port:
            raise UserError(f"--backend {name} needs --port: 'core', 'sim', a serial device or "
                            f"socket://HOST:PORT")
        return DeviceBackend(name, art, opts.port, opts)
    raise UserError(f"backend {name!r} is not available (one of {', '.join(BACKENDS)})")
