"""The Verilator core as a device: the host drives its Wishbone window (host/window_device.py)
through the C harness (gateware/verilator_core.py)."""
from __future__ import annotations

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.verilator_core import CoreSim
from catsnn.host.window_device import WindowDevice

MAX_CYCLES = 200_000_000      # one layer; a core that runs longer is hung
DRAM_WAIT_STATES = 4          # the external memory model of --port core-dram: wait states per read


class SimBus:
    """CoreSim as a window bus: waiting clocks the simulation."""

    def __init__(self, sim: CoreSim):
        self.sim = sim
        self.read, self.write = sim.read, sim.write
        self.read_block, self.write_block = sim.read_block, sim.write_block
        self.write_external = sim.write_external

    def wait_stopped(self):
        self.sim.run_until_stopped(MAX_CYCLES)


class VerilatorDevice(WindowDevice):
    def __init__(self, cfg: CoreConfig, build_root=None, quiet=False):
        super().__init__(SimBus(CoreSim(cfg, build_root, quiet)), f"Verilator core (P = {cfg.pe})")
