"""The clock and reset generator every ECP5 board target uses: its oscillator -> PLL -> sys."""
from litex.gen import LiteXModule
from litex.soc.cores.clock import ECP5PLL
from migen import ClockDomain, Signal


class ECP5CRG(LiteXModule):
    def __init__(self, platform, sys_clk_freq, clk_name, clk_freq, reset_pin=None,
                 reset_active_low=False):
        self.rst = Signal()
        self.cd_sys = ClockDomain()

        # # #

        self.pll = pll = ECP5PLL()
        if reset_pin is None:
            reset = self.rst
        else:
            pin = platform.request(reset_pin)
            reset = self.rst | (~pin if reset_active_low else pin)
        self.comb += pll.reset.eq(reset)
        pll.register_clkin(platform.request(clk_name), clk_freq)
        pll.create_clkout(self.cd_sys, sys_clk_freq)
