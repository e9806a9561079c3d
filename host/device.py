"""The device interface: what every way of running the log-TTFS core offers the host.

A device is a core with a model slot: the Verilator core driven over its Wishbone window
(``host/verilator_device.py``), the SoC's firmware over a framed link: UART, a TCP socket to the
simulated SoC (``host/soc_device.py``), the SoC's Ethernet (``host/udp_device.py``) or a PYNQ
board (``host/pynq_device.py``). Each one is one class with these methods; ``host/driver.py`` is the only code that runs a model on any of them.

Devices and the driver need no torch (they run on a PYNQ board's ARM, ``host/board_run.py``):
images in, spike maps and potentials out are numpy arrays.

Status words are the core's STATUS register (``core_config.STATUS_*``, the layer in bits 8-15).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig


class DeviceStateError(UserError):
    """A command the device cannot take in its state (no model, not paused, ...)."""


@dataclass
class DeviceInfo:
    cfg: CoreConfig               # the core's configuration, read from its registers
    description: str              # e.g. "Verilator core", "SoC at socket://127.0.0.1:1234"
    firmware_version: int | None = None


@dataclass
class DeviceResult:
    best: int                     # the class the device reports (argmax, ties to the lowest)
    potentials: np.ndarray        # int64 (classes,), units of 2^-F of the model
    cycles: int                   # core cycles of the run
    counters: dict = field(default_factory=dict)   # COUNTERS name -> one value per layer


class Device(Protocol):
    def info(self) -> DeviceInfo:
        """The core behind the device."""

    def load_model(self, image: bytes) -> int:
        """Load a model image (``gateware/model_image.py``); returns its layer count. A model
        that does not fit is refused before anything is written (DoesNotFit)."""

    def run(self, pixels: bytes, step: bool = False) -> int:
        """Write one image (C*H*W bytes) and run it; returns the status when the core stops:
        done, or (step) paused after layer 0."""

    def continue_(self) -> int:
        """Step mode: run the next layer; returns the status when the core stops."""

    def read_map(self, layer: int, words: int) -> list[int]:
        """The first ``words`` bus words of layer ``layer``'s output spike map, while the core
        is paused after that layer (or done, for the last firing layer)."""

    def result(self, classes: int) -> DeviceResult:
        """The finished run: class, the fc layer's potentials, cycles, per-layer counters."""

    def stats(self) -> dict:
        """Figures of the transport (bytes, bytes/s), empty where there is no link."""

    def close(self) -> None:
        """Release the device (stop a simulation this device started)."""


# devices this machine starts itself: the Verilator core alone, and the simulated SoCs (so
# several can run side by side, --jobs)
CORE_PORTS = ("core", "core-fit", "core-dram")
LOCAL_PORTS = CORE_PORTS + ("sim", "sim-eth", "sim-dram")


def is_core_port(port: str) -> bool:
    """A Verilator core alone (``core-dram:BOARD`` too)."""
    return port in CORE_PORTS or port.startswith("core-dram:")


def is_local_port(port: str) -> bool:
    return port in LOCAL_PORTS or is_core_port(port) or port.startswith("sim-dram:")


def sim_shape(port: str) -> dict:
    """What the simulated SoC of a local ``sim*`` port carries besides its core
    (host/simulation.py ``SimulatedSoC``): ``sim`` a UART; ``sim-eth``, ``sim-dram`` Ethernet
    and SDRAM; ``sim-dram:BOARD`` SDRAM and that board's --dram SoC shape (its CPU variant, and
    Ethernet where the board has it there, else the UART)."""
    if port.startswith("sim-dram:"):
        from catsnn.host.board_build import board_module, soc_shape
        shape = soc_shape(board_module(port[len("sim-dram:"):]), True)
        return {"ethernet": shape["ethernet"], "sdram": True, "cpu_variant": shape["cpu"]}
    return {"ethernet": port in ("sim-eth", "sim-dram"), "sdram": port in ("sim-eth", "sim-dram"),
            "cpu_variant": "standard"}


# the DRAM core the simulated ports have: the one `catsnn build --board ulx3s --dram` puts on
# an ECP5-85F (boards/fit_config.py: sized for VGG-16 and the compact model, in tiles)
DRAM_BOARD_DEVICE = "LFE5U-85F"


def core_config_for(port: str, pe: int | None, art=None) -> CoreConfig:
    """The core a simulated device of ``port`` has: the compact model's, (``core-fit``) one
    sized for ``art``, (``core-dram``, ``sim-dram``) the 85F DRAM boards', or
    (``core-dram:BOARD``, ``sim-dram:BOARD``) the one ``catsnn build --board BOARD --dram``
    builds (P: the board's unless ``pe`` is given). ``pe`` None: 16, or the board's."""
    if port.startswith(("core-dram:", "sim-dram:")):
        from catsnn.host.board_build import board_config
        return board_config(port.split(":", 1)[1], pe=pe, dram=True)[2]
    pe = 16 if pe is None else pe
    if port == "core-fit":
        if art is None:
            raise UserError(f"--port {port} sizes the core for a model: none given")
        return CoreConfig.fitting(art, pe)
    if port in ("core-dram", "sim-dram"):
        from catsnn.boards.fit_config import dram_core_config
        return dram_core_config(DRAM_BOARD_DEVICE, pe)
    return CoreConfig.compact(pe)


def open_device(port: str, pe: int | None = 16, timeout: float = 30.0, progress: bool = True,
                art=None) -> Device:
    """The device named by ``port``: ``core`` (the Verilator core alone, sized for the compact
    model at P = pe), ``core-fit`` (the Verilator core with memories sized for the model
    ``art``, e.g. VGG-16: a simulation of the datapath at any size, no board holds it),
    ``core-dram`` (the core of a DRAM board: weights in external memory, staged into block RAM
    one program entry at a time from a memory model with DRAM-like wait states, big layers in
    tiles; ``core-dram:BOARD``: that board's --dram core, e.g. the Colorlight i5's), ``sim`` (a private simulated SoC), ``sim-eth`` (a private simulated SoC
    with Ethernet, driven over UDP in a network namespace of its own), ``sim-dram`` (the same
    with SDRAM and the DRAM board's core: the host writes the weights into the SDRAM, the core
    stages them through LiteDRAM one program entry ahead; ``sim-dram:BOARD``: the SoC of that
    board's --dram build, its core, CPU and link, e.g. the Colorlight i5's over the UART), ``pynq[:BITFILE]`` (on a
    PYNQ board: the core in its programmable logic), ``udp://HOST[:PORT]`` (a SoC's Ethernet),
    or a link URL for the UART (``/dev/ttyUSB0``, ``socket://HOST:PORT``, any pyserial URL)."""
    if is_core_port(port):
        from catsnn.host.verilator_device import DRAM_WAIT_STATES, VerilatorDevice
        dev = VerilatorDevice(core_config_for(port, pe, art))
        if port.startswith("core-dram"):
            dev.bus.sim.set_external_latency(DRAM_WAIT_STATES)
        return dev
    if port == "pynq" or port.startswith("pynq:"):
        from catsnn.host.pynq_device import PynqDevice
        return PynqDevice.open(port[5:] or None)
    if port.startswith("udp://"):
        from catsnn.host.udp_device import UdpDevice
        return UdpDevice(port, timeout=timeout)
    from catsnn.host.soc_device import SocDevice
    if port in ("sim", "sim-eth", "sim-dram") or port.startswith("sim-dram:"):
        shape, cfg = sim_shape(port), core_config_for(port, pe, art)
        if shape.pop("ethernet"):
            from catsnn.host.udp_device import UdpDevice
            return UdpDevice.simulated(cfg, timeout=timeout, **shape)
        return SocDevice.simulated(cfg, timeout=timeout, progress=progress, **shape)
    return SocDevice(port, timeout=timeout, progress=progress)
