"""Colorlight i5 (ECP5-25F, two Gigabit Ethernet PHYs). The catsnn SoC with Ethernet (its
first RGMII PHY, LiteEth + the Etherbone guard at 192.168.1.50, UDP port 1234); this file adds
the platform (litex-boards), the 25 MHz -> sys PLL and the UART on the i5's serial pins.

The 25F has 56 block RAMs: the SoC takes 24 of them and Ethernet about 6, and the compact
model alone needs 176 at P = 16 (membranes for 32 channels of 32 x 32 take 64). Without DRAM the
core is configured for smaller models (boards/fit_config: membrane and spike-map depths halved
until the SoC fits, then the largest weight memory that still does): no shipped model fits.

With ``--dram`` the weights live in the i5's 8 MB SDRAM (M12L64322A, 32-bit, LiteDRAM's
GENSDRPHY) and the compact model runs in tiles (VGG-16's 9.2 MB of weights do not fit 8 MB).
Block RAM still decides the rest: the two spike maps of the compact model's 32 x 32 x 32 layer
take 20 of the 56, so that build has P = 2, the "lite" VexRiscv (no data cache) and no Ethernet
(its buffers do not fit beside them): the host loads the model over the UART, and the firmware
writes the weights into the SDRAM.
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5U-25F"
DEVICES = ["LFE5U-25F"]
ETHERNET = True
DRAM = True                 # 8 MB SDR SDRAM (M12L64322A or compatible), 32-bit
DRAM_ETHERNET = False       # the --dram SoC's shape (block RAM: see above)
DRAM_CPU = "lite"
DRAM_L2 = 0                 # an 8 KiB L2 cache would take 13 block RAMs (gateware/fit.py)
DRAM_DEFAULT_PE = 2
IP_ADDRESS = "192.168.1.50"   # LiteX's convention; the host: --port udp://192.168.1.50
DEFAULT_PE = 4
SYS_CLK_FREQ = int(40e6)
PROGRAM = "openFPGALoader -b colorlight-i5 {bitstream}"


def core_config(device, pe):
    return board_core_config(device, pe, ethernet=ETHERNET)


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE, dram=False):
    from litex_boards.platforms import colorlight_i5
    from liteeth.phy.ecp5rgmii import LiteEthPHYRGMII
    platform = colorlight_i5.Platform(board="i5", revision="7.0", toolchain="trellis")
    if dram:     # as litex-boards' colorlight_i5 target: its CRG drives the SDRAM clock
        from litedram.modules import M12L64322A
        from litedram.phy import GENSDRPHY
        from litex_boards.targets.colorlight_i5 import _CRG
        soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware,
                        uart_name="serial", cpu_variant=DRAM_CPU)
        soc.crg = _CRG(platform, SYS_CLK_FREQ, sdram_rate="1:1")
        soc.sdrphy = GENSDRPHY(platform.request("sdram"), SYS_CLK_FREQ)
        soc.add_sdram("sdram", phy=soc.sdrphy, module=M12L64322A(SYS_CLK_FREQ, "1:1"),
                      l2_cache_size=DRAM_L2)
        return soc
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk25", 25e6)
    # as litex-boards' colorlight_i5 target sets up its first PHY
    phy = LiteEthPHYRGMII(clock_pads=platform.request("eth_clocks", 0),
                          pads=platform.request("eth", 0), tx_delay=0)
    soc.add_guarded_etherbone(phy, IP_ADDRESS)
    return soc
