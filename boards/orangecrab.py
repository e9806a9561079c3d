"""OrangeCrab r0.2 (ECP5 25F or 85F, Feather form factor). The catsnn SoC unchanged; this file
adds the platform (litex-boards), the 48 MHz -> sys PLL and a UART on the Feather header's
TX/RX pins (a USB-serial adapter there; the board's own USB port is not a UART).

The 85F holds the compact model as the ULX3S-85F does; the 25F gets the reduced core of the
Colorlight i5 (no shipped model fits it).
"""
from catsnn.boards.crg import ECP5CRG
from catsnn.boards.fit_config import board_core_config
from catsnn.gateware.soc import CatSnnSoC

DEFAULT_DEVICE = "LFE5U-85F"
DEVICES = ["LFE5U-25F", "LFE5U-85F"]
ETHERNET = False            # no Ethernet PHY on this board
DRAM = True                 # 128 MB DDR3 (MT41K64M16 on r0.2)
DRAM_L2 = 8192              # LiteDRAM's L2 cache: bursts for the core's sequential weight reads
DEFAULT_PE = 16
SYS_CLK_FREQ = int(40e6)
PROGRAM = "openFPGALoader -b orangecrab {bitstream}   # or dfu-util -D with the DFU bootloader"


core_config = board_core_config


def board_soc(core_cfg, firmware=None, device=DEFAULT_DEVICE, dram=False):
    from litex_boards.platforms import gsd_orangecrab
    platform = gsd_orangecrab.Platform(revision="0.2", device=device.split("-")[1],
                                       toolchain="trellis")
    platform.add_extension(gsd_orangecrab.feather_serial)
    soc = CatSnnSoC(platform, SYS_CLK_FREQ, core_cfg, firmware=firmware, uart_name="serial")
    if dram:     # as litex-boards' OrangeCrab target sets up its DDR3
        from litedram.modules import MT41K64M16
        from litedram.phy import ECP5DDRPHY
        from litex_boards.targets.gsd_orangecrab import _CRGSDRAM
        soc.crg = _CRGSDRAM(platform, SYS_CLK_FREQ)
        pads = platform.request("ddram")
        soc.ddrphy = ECP5DDRPHY(pads=pads, sys_clk_freq=SYS_CLK_FREQ, dm_remapping={0: 1, 1: 0},
                                cmd_delay=0 if SYS_CLK_FREQ > 64e6 else 100)
        soc.ddrphy.settings.rtt_nom = "disabled"
        if hasattr(pads, "vccio"):
            soc.comb += pads.vccio.eq(0b111111)
        if hasattr(pads, "gnd"):
            soc.comb += pads.gnd.eq(0)
        soc.comb += [soc.crg.stop.eq(soc.ddrphy.init.stop),
                     soc.crg.reset.eq(soc.ddrphy.init.reset)]
        soc.add_sdram("sdram", phy=soc.ddrphy, module=MT41K64M16(SYS_CLK_FREQ, "1:2"),
                      l2_cache_size=DRAM_L2)
        return soc
    soc.crg = ECP5CRG(platform, SYS_CLK_FREQ, "clk48", 48e6)
    return soc
