"""The catsnn SoC: VexRiscv, UART, timer and the log-TTFS core on the Wishbone bus.

One description for every target: the simulation (boards/sim.py) and each board only supply a
platform, a clock and the UART pins. The firmware (firmware/) is the ROM's content: there is no
BIOS in the final SoC (LiteX's BIOS build is only used for its libraries and headers).
"""
from litex.soc.integration.soc import SoCRegion
from litex.soc.integration.soc_core import SoCCore

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.log_ttfs_core import LogTTFSCore

ROM_SIZE = 0x8000      # firmware code + constants
SRAM_SIZE = 0x4000     # firmware data, buffers (about 10 KiB), stack
SNN_BASE = 0x90000000  # the core's Wishbone window (uncached, in VexRiscv's IO region)


class CatSnnSoC(SoCCore):
    def __init__(self, platform, sys_clk_freq, core_cfg: CoreConfig, firmware=None,
                 uart_name="serial", **kwargs):
        SoCCore.__init__(self, platform, sys_clk_freq,
                         ident="catsnn log-TTFS SoC", cpu_type="vexriscv",
                         cpu_variant="standard", uart_name=uart_name,
                         # the ROM holds exactly the firmware (block RAM is scarce)
                         integrated_rom_size=ROM_SIZE if not firmware else
                         -(-len(firmware) * 4 // 0x1000) * 0x1000,
                         integrated_rom_init=firmware or [],
                         integrated_sram_size=SRAM_SIZE,
                         integrated_main_ram_size=0, **kwargs)
        self.snn = LogTTFSCore(core_cfg)
        size = 4 << (core_cfg.region_shift + 3)
        self.bus.add_slave("snn", self.snn.bus,
                           SoCRegion(origin=SNN_BASE, size=size, cached=False))
        self.add_constant("CATSNN_PE", core_cfg.pe)
