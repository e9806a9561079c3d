"""Radiona ULX3S (ECP5, FTDI serial): the main board. The catsnn SoC unchanged; this file adds
the platform (litex-boards), the 25 MHz -> sys PLL and the UART pins.

The compact model needs the 85F (its weights, membranes and spike maps fill 176 of the 85F's
208 block RAMs at P = 16); the 12F/25F/45F variants hold smaller models only.
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5U-85F"
DEVICES = ["LFE5U-12F", "LFE5U-25F", "LFE5U-45F", "LFE5U-85F"]
ETHERNET = False            # no Ethernet PHY on this board
DEFAULT_PE = 16
SYS_CLK_FREQ = int(40e6)   # the SoC with the P = 16 core routes at 47.4 MHz on the 85F
PROGRAM = "openFPGALoader --board ulx3s {bitstream}"


core_config = board_core_config


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE):
    from litex_boards.platforms import radiona_ulx3s
    platform = radiona_ulx3s.Platform(device=device, toolchain="trellis")
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk25", 25e6, reset_pin="rst")
    # keep the ESP32 from resetting the FPGA
    soc.comb += platform.request("wifi_gpio0").eq(1)
    return soc
