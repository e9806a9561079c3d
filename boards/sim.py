"""The default target: the catsnn SoC under Verilator (LiteX sim), UART on a TCP socket."""
from pathlib import Path

from litex.build.generic_platform import Pins, Subsignal
from litex.build.io import CRG
from litex.build.sim import SimPlatform
from litex.build.sim.config import SimConfig

from catsnn.gateware.soc import CatSnnSoC

SYS_CLK_FREQ = int(1e6)     # nominal: sim time runs as fast as Verilator can go

_io = [
    ("sys_clk", 0, Pins(1)),
    ("sys_rst", 0, Pins(1)),
    ("serial", 0,
        Subsignal("source_valid", Pins(1)),
        Subsignal("source_ready", Pins(1)),
        Subsignal("source_data", Pins(8)),
        Subsignal("sink_valid", Pins(1)),
        Subsignal("sink_ready", Pins(1)),
        Subsignal("sink_data", Pins(8)),
    ),
]


class Platform(SimPlatform):
    def __init__(self):
        SimPlatform.__init__(self, "SIM", _io)


def sim_soc(core_cfg, firmware=None):
    platform = Platform()
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="sim")
    soc.crg = CRG(platform.request("sys_clk"))
    return soc


SIM_MODULES = Path(__file__).resolve().parent / "sim_modules"
EXTRA_MODULES = ["catsnn_serial2tcp"]


def sim_config(port: int, bind: str = "127.0.0.1") -> SimConfig:
    """The UART on TCP ``bind:port`` (LiteX's serial2tcp with catsnn's changes:
    boards/sim_modules/). The port is a debug port without authentication: loopback unless the
    user binds it elsewhere."""
    cfg = SimConfig()
    cfg.add_clocker("sys_clk", freq_hz=SYS_CLK_FREQ)
    cfg.add_module("catsnn_serial2tcp", "serial", args={"port": port, "bind": bind})
    return cfg
