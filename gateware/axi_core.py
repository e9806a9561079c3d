"""The log-TTFS core behind an AXI-Lite slave, for a Zynq's programmable logic (PYNQ boards).

``AxiLiteCore`` puts LiteX's AXI-Lite -> Wishbone bridge in front of the core's Wishbone window:
byte address ``4 * a`` on AXI is word ``a`` of the window (``core_config``'s map), 32-bit data,
every access one transaction. ``axi_core_verilog`` exports it as one Verilog module whose ports
follow Xilinx's naming (``s_axi_*``, clock ``s_axi_aclk``, active-low reset ``s_axi_aresetn``),
so Vivado's block design infers the AXI-Lite interface, its clock and its reset from the names.
"""
from __future__ import annotations

from migen import ClockDomain, Module, Signal

from litex.soc.interconnect import wishbone
from litex.soc.interconnect.axi import AXILite2Wishbone, AXILiteInterface

from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.log_ttfs_core import LogTTFSCore

TOP = "catsnn_axi"


def window_bytes(cfg: CoreConfig) -> int:
    """Bytes of the core's window (8 regions of 2^region_shift words)."""
    return 4 << (cfg.region_shift + 3)


def axi_address_bits(cfg: CoreConfig) -> int:
    return cfg.region_shift + 3 + 2


class AxiLiteCore(Module):
    def __init__(self, cfg: CoreConfig):
        # interface
        self.axi = AXILiteInterface(data_width=32, address_width=axi_address_bits(cfg))

        # # #

        self.submodules.core = core = LogTTFSCore(cfg)
        wb = wishbone.Interface(data_width=32, adr_width=axi_address_bits(cfg) - 2)
        self.submodules.bridge = AXILite2Wishbone(self.axi, wb)
        self.comb += wb.connect(core.bus)


# AXI-Lite channel signals -> their Xilinx port names
PORTS = {"aw": ["addr", "prot", "valid", "ready"], "w": ["data", "strb", "valid", "ready"],
         "b": ["resp", "valid", "ready"], "ar": ["addr", "prot", "valid", "ready"],
         "r": ["data", "resp", "valid", "ready"]}
OUTPUTS = {("aw", "ready"), ("w", "ready"), ("b", "resp"), ("b", "valid"), ("ar", "ready"),
           ("r", "data"), ("r", "resp"), ("r", "valid")}


class AxiTop(Module):
    """The wrapper with fixed port names, its clock and reset from the AXI ports."""

    def __init__(self, cfg: CoreConfig):
        self.clock_domains.cd_sys = cd = ClockDomain("sys")
        self.aclk, self.aresetn = Signal(name="s_axi_aclk"), Signal(name="s_axi_aresetn")
        self.comb += [cd.clk.eq(self.aclk), cd.rst.eq(~self.aresetn)]
        self.submodules.wrapped = w = AxiLiteCore(cfg)
        self.ports = {"s_axi_aclk": self.aclk, "s_axi_aresetn": self.aresetn}
        for channel, fields in PORTS.items():
            for field in fields:
                sig = getattr(getattr(w.axi, channel), field)
                name = f"s_axi_{channel}{field}"
                port = Signal(len(sig), name=name)
                self.comb += port.eq(sig) if (channel, field) in OUTPUTS else sig.eq(port)
                self.ports[name] = port


def axi_core_verilog(cfg: CoreConfig) -> str:
    from migen.fhdl.verilog import convert
    top = AxiTop(cfg)
    return str(convert(top, ios=set(top.ports.values()), name=TOP))
