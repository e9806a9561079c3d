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
DRAM = True                 # 32 MB SDR SDRAM (MT48LC16M16 or compatible), 16-bit
DRAM_L2 = 8192              # LiteDRAM's L2 cache: bursts for the core's sequential weight reads
DEFAULT_PE = 16
SYS_CLK_FREQ = int(40e6)   # the SoC with the P = 16 core routes at 47.4 MHz on the 85F
PROGRAM = "openFPGALoader --board ulx3s {bitstream}"


core_config = board_core_config


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE, dram=False):
    from litex_boards.platforms import radiona_ulx3s
    platform = radiona_ulx3s.Platform(device=device, toolchain="trellis")
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    if dram:     # as litex-boards' ULX3S target: its CRG drives the SDRAM clock (and wifi_gpio0)
        from litedram.modules import MT48LC16M16
        from litedram.phy import GENSDRPHY
        from litex_boards.targets.radiona_ulx3s import _CRG
        soc.crg = _CRG(platform, SYS_CLK_FREQ, sdram_rate="1:1")
        soc.sdrphy = GENSDRPHY(platform.request("sdram"), SYS_CLK_FREQ)
        soc.add_sdram("sdram", phy=soc.sdrphy, module=MT48LC16M16(SYS_CLK_FREQ, "1:1"),
                      l2_cache_size=DRAM_L2)
        return soc
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk25", 25e6, reset_pin="rst")
    # keep the ESP32 from resetting the FPGA
    soc.comb += platform.request("wifi_gpio0").eq(1)
    return soc
