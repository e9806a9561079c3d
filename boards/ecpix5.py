"""LambdaConcept ECPIX-5 (ECP5-5G 85F or 45F, RGMII Gigabit Ethernet, DDR3): the 85F board with
Ethernet. The catsnn SoC with Ethernet (LiteEth + the Etherbone guard at 192.168.1.50, UDP
port 1234); this file adds the platform (litex-boards), the 100 MHz -> sys PLL (reset: the
active-low button) and the UART of the board's FTDI chip.

The LFE5UM5G-85F has the 85F's 208 block RAMs: the compact core at P = 16 takes 176, the rest
of the SoC about 24 and Ethernet about 6, so the compact model fits with 2 to spare.
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5UM5G-85F"
DEVICES = ["LFE5UM5G-45F", "LFE5UM5G-85F"]
ETHERNET = True
IP_ADDRESS = "192.168.1.50"   # LiteX's convention; the host: --port udp://192.168.1.50
DEFAULT_PE = 16
SYS_CLK_FREQ = int(40e6)
PROGRAM = "openFPGALoader -b ecpix5 {bitstream}"


def core_config(device, pe):
    return board_core_config(device, pe, ethernet=ETHERNET)


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE, dram=False):
    from litex_boards.platforms import lambdaconcept_ecpix5
    from liteeth.phy.ecp5rgmii import LiteEthPHYRGMII
    platform = lambdaconcept_ecpix5.Platform(device=device.split("-")[1], toolchain="trellis")
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk100", 100e6, reset_pin="rst_n",
                      reset_active_low=True)
    # as litex-boards' lambdaconcept_ecpix5 target sets up its PHY
    phy = LiteEthPHYRGMII(clock_pads=platform.request("eth_clocks"),
                          pads=platform.request("eth"), rx_delay=0e-9)
    soc.add_guarded_etherbone(phy, IP_ADDRESS)
    return soc
