"""Colorlight i5 (ECP5-25F, two Gigabit Ethernet PHYs). The catsnn SoC with Ethernet (its
first RGMII PHY, LiteEth + the Etherbone guard at 192.168.1.50, UDP port 1234); this file adds
the platform (litex-boards), the 25 MHz -> sys PLL and the UART on the i5's serial pins.

The 25F has 56 block RAMs: the SoC takes 24 of them and Ethernet about 6, and the compact
model alone needs 176 at P = 16 (membranes for 32 channels of 32 x 32 take 64). The core is
therefore configured for smaller models (boards/fit_config: membrane and spike-map depths
halved until the SoC fits, then the largest weight memory that still does): no shipped model
fits until weights can live in the i5's SDRAM (the DRAM issue), and `catsnn eval` says which
memory is short and by how much.
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5U-25F"
DEVICES = ["LFE5U-25F"]
ETHERNET = True
DRAM = False                # its 8 MB SDRAM is not used: see DRAM_WHY
DRAM_WHY = ("a DRAM core for the compact model needs about 81 block RAMs (its two spike maps "
            "alone take 20; the SoC 24, Ethernet 6, LiteDRAM 15) and the 25F has 56: the maps "
            "would have to live in DRAM too")
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
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk25", 25e6)
    # as litex-boards' colorlight_i5 target sets up its first PHY
    phy = LiteEthPHYRGMII(clock_pads=platform.request("eth_clocks", 0),
                          pads=platform.request("eth", 0), tx_delay=0)
    soc.add_guarded_etherbone(phy, IP_ADDRESS)
    return soc
