"""Colorlight i5 (ECP5-25F, two Gigabit Ethernet PHYs): the Ethernet board of a later issue.
The catsnn SoC unchanged; this file adds the platform (litex-boards), the 25 MHz -> sys PLL and
the UART on the i5's serial pins.

The 25F has 56 block RAMs: the SoC takes 24 of them, and the compact model alone needs 176 at
P = 16 (membranes for 32 channels of 32 x 32 take 64). The core is therefore configured for
smaller models (boards/fit_config: membrane and spike-map depths halved until the SoC fits,
then the largest weight memory that still does): no shipped model fits, and `catsnn eval`
says which memory is short and by how much.
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5U-25F"
DEVICES = ["LFE5U-25F"]
DEFAULT_PE = 4
SYS_CLK_FREQ = int(40e6)
PROGRAM = "openFPGALoader -b colorlight-i5 {bitstream}"


core_config = board_core_config


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE):
    from litex_boards.platforms import colorlight_i5
    platform = colorlight_i5.Platform(board="i5", revision="7.0", toolchain="trellis")
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk25", 25e6)
    return soc
