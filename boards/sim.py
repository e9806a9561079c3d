"""The default target: the catsnn SoC under Verilator (LiteX sim), UART on a TCP socket; with
``ethernet``, also LiteEth on LiteX's TAP-backed PHY model (host/netns.py makes the private
network namespace the TAP lives in) and SDRAM (LiteDRAM on a chip model: where weights will
live, the DRAM issue), which the host reaches over Ethernet."""
from pathlib import Path

from litex.build.generic_platform import Pins, Subsignal
from litex.build.io import CRG
from litex.build.sim import SimPlatform
from litex.build.sim.config import SimConfig

from catsnn.errors import UserError
from catsnn.gateware.soc import CatSnnSoC

SYS_CLK_FREQ = int(1e6)     # nominal: sim time runs as fast as Verilator can go


def stream_pads(name):
    """An 8-bit stream each way: how LiteX's sim modules (serial2tcp, ethernet) attach."""
    return (name, 0, *[Subsignal(f"{side}_{sig}", Pins(8 if sig == "data" else 1))
                       for side in ("source", "sink") for sig in ("valid", "ready", "data")])


_io = [
    ("sys_clk", 0, Pins(1)),
    ("sys_rst", 0, Pins(1)),
    stream_pads("serial"),
    stream_pads("eth"),
]

# the simulated network (TEST-NET-1, inside a namespace of its own): the SoC and the host's TAP
SOC_IP = "192.0.2.50"
HOST_IP = "192.0.2.100"
TAP = "catsnn0"


class Platform(SimPlatform):
    def __init__(self):
        SimPlatform.__init__(self, "SIM", _io)


def sim_soc(core_cfg, firmware=None, ethernet=False, sdram=None, cpu_variant="standard"):
    """The simulated SoC: UART; with ``ethernet`` LiteEth and SDRAM; with ``sdram`` (default:
    as ``ethernet``) SDRAM; ``cpu_variant`` as a board's (the Colorlight i5's --dram SoC has the
    lite VexRiscv)."""
    sdram = ethernet if sdram is None else sdram
    if core_cfg.external_weights and not sdram:
        raise UserError("a core with external weights needs DRAM: the simulation has it with "
                        "Ethernet (--port sim-dram) or in a board's shape (sim-dram:BOARD)")
    platform = Platform()
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="sim",
                    cpu_variant=cpu_variant)
    soc.crg = CRG(platform.request("sys_clk"))
    if sdram:
        add_sim_sdram(soc)
    if ethernet:
        from liteeth.phy.model import LiteEthPHYModel
        soc.add_guarded_etherbone(LiteEthPHYModel(platform.request("eth")), SOC_IP)
    return soc


def add_sim_sdram(soc):
    """SDRAM as LiteX's simulation has it: LiteDRAM's controller on a functional chip model
    (MT48LC16M16, 32-bit: 64 MiB at 0x40000000). The controller starts under hardware
    control, which the chip model accepts: the firmware skips the init sequence it runs on a
    board."""
    from litedram import modules
    from litedram.phy.model import SDRAMPHYModel
    module = modules.MT48LC16M16(int(100e6), "1:1")
    soc.sdrphy = SDRAMPHYModel(module=module, data_width=32, clk_freq=int(100e6))
    soc.add_sdram("sdram", phy=soc.sdrphy, module=module, l2_cache_size=0)
    # the chip model needs no init sequence (the controller starts under hardware control),
    # and the host writes the weights over Ethernet as soon as the simulation runs: the
    # firmware's init (software control, while which those writes would be lost) is skipped
    soc.add_constant("CATSNN_SDRAM_READY")


SIM_MODULES = Path(__file__).resolve().parent / "sim_modules"
EXTRA_MODULES = ["catsnn_serial2tcp"]


def sim_config(port: int, bind: str = "127.0.0.1", ethernet: bool = False) -> SimConfig:
    """The UART on TCP ``bind:port`` (LiteX's serial2tcp with catsnn's changes:
    boards/sim_modules/). The port is a debug port without authentication: loopback unless the
    user binds it elsewhere. With ``ethernet``, LiteX's ``ethernet`` module opens TAP
    ``catsnn0`` with the host's address (only ever inside a private network namespace)."""
    cfg = SimConfig()
    cfg.add_clocker("sys_clk", freq_hz=SYS_CLK_FREQ)
    cfg.add_module("catsnn_serial2tcp", "serial", args={"port": port, "bind": bind})
    if ethernet:
        cfg.add_module("ethernet", "eth", args={"interface": TAP, "ip": HOST_IP})
    return cfg
