"""The core in a PYNQ board's programmable logic as a device, driven from Python on the board.

The core sits behind an AXI-Lite slave (gateware/axi_core.py) on the Zynq's M_AXI_GP0; its
window is mapped with ``pynq.MMIO``, and ``WindowDevice`` (host/window_device.py) runs the
same commands, checks, model image and step-mode run as every other device. On the board:

    catsnn eval MODEL --backend device --port pynq:/home/xilinx/catsnn/catsnn.bit --check

(the ``.hwh`` beside the ``.bit`` names the core's address; ``pynq`` alone takes ``catsnn.bit``
in the current folder). Anything with ``pynq.MMIO``'s ``read(offset)`` / ``write(offset,
value)`` works as the window: the tests use the Verilator model of the AXI-Lite wrapper.
"""
from __future__ import annotations

import time
from pathlib import Path

from catsnn.errors import UserError
from catsnn.gateware.core_config import REG_STATUS, STATUS_BUSY
from catsnn.host.window_device import WindowDevice

RUN_TIMEOUT_S = 60.0          # one layer; a core that runs longer is hung
IP_NAME = "catsnn_0"          # the core's cell in the Vivado block design (boards/pynq.py)


class MmioBus:
    """A ``pynq.MMIO``-like object (byte offsets) as a window bus (word addresses)."""

    def __init__(self, mmio, timeout_s: float = RUN_TIMEOUT_S):
        self.mmio, self.timeout_s = mmio, timeout_s

    def read(self, adr: int) -> int:
        return self.mmio.read(4 * adr)

    def write(self, adr: int, value: int) -> None:
        self.mmio.write(4 * adr, value & 0xFFFFFFFF)

    def read_block(self, adr: int, n: int) -> list[int]:
        return [self.mmio.read(4 * (adr + i)) for i in range(n)]

    def write_block(self, adr: int, values) -> None:
        for i, v in enumerate(values):
            self.mmio.write(4 * (adr + i), int(v) & 0xFFFFFFFF)

    def wait_stopped(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.read(REG_STATUS) & STATUS_BUSY:
            if time.monotonic() > deadline:
                raise UserError(f"pynq: the core did not stop within {self.timeout_s:.0f} s")


class PynqDevice(WindowDevice):
    def __init__(self, mmio, description: str = "PYNQ core"):
        super().__init__(MmioBus(mmio), description)

    @classmethod
    def open(cls, bitfile: str | None = None) -> "PynqDevice":
        """Program the overlay (bitstream + its .hwh) and map the core's window."""
        try:
            from pynq import MMIO, Overlay
        except ImportError:
            raise UserError("--port pynq needs the pynq package, on the board: "
                            "pip install 'catsnn[pynq]' (docs: README, PYNQ)") from None
        bit = Path(bitfile or "catsnn.bit")
        if not bit.is_file() or not bit.with_suffix(".hwh").is_file():
            raise UserError(f"pynq: {bit} and {bit.with_suffix('.hwh')} are needed (catsnn "
                            f"build --board pynq_z2 writes the Vivado script that makes them)")
        try:
            ol = Overlay(str(bit))
            ip = ol.ip_dict[IP_NAME]
        except KeyError:
            raise UserError(f"pynq: the overlay {bit} has no {IP_NAME} core") from None
        except Exception as e:      # pynq's own errors (no device, bad bitstream, ...)
            raise UserError(f"pynq: cannot load the overlay {bit}: {e}") from None
        return cls(MMIO(ip["phys_addr"], ip["addr_range"]),
                   f"PYNQ overlay {bit} at {ip['phys_addr']:#x}")
