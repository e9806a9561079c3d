"""The catsnn SoC: VexRiscv, UART, timer and the log-TTFS core on the Wishbone bus; Ethernet
(LiteEth's UDP/IP and Etherbone, behind catsnn's guard) where the target has a PHY.

One description for every target: the simulation (boards/sim.py) and each board only supply a
platform, a clock, the UART pins and maybe an Ethernet PHY. The firmware (firmware/) is the
ROM's content: there is no BIOS in the final SoC (LiteX's BIOS build is only used for its
libraries and headers). Over the UART the firmware serves the framed protocol
(docs/protocol.md); over Ethernet the host reaches the core's window itself, with Etherbone
requests the guard checks (gateware/etherbone_packet.py): the firmware plays no part there.
"""
from litex.soc.integration.soc import SoCRegion
from litex.soc.integration.soc_core import SoCCore

from catsnn.errors import UserError
from catsnn.gateware.core_config import EXTERNAL_BASE, CoreConfig
from catsnn.gateware.etherbone_packet import GUARD_BASE, SNN_BASE, UDP_PORT
from catsnn.gateware.log_ttfs_core import LogTTFSCore

ROM_SIZE = 0x8000      # firmware code + constants
SRAM_SIZE = 0x4000     # firmware data, buffers (about 10 KiB), stack


class CatSnnSoC(SoCCore):
    def __init__(self, platform, sys_clk_freq, core_cfg: CoreConfig, firmware=None,
                 uart_name="serial", cpu_variant="standard", **kwargs):
        # cpu_variant "lite" (2 KiB instruction cache, no data cache) saves 6 block RAMs where
        # they are scarce: the firmware only moves frames, the core does the work
        SoCCore.__init__(self, platform, sys_clk_freq,
                         ident="catsnn log-TTFS SoC", cpu_type="vexriscv",
                         cpu_variant=cpu_variant, uart_name=uart_name,
                         # the ROM holds exactly the firmware (block RAM is scarce)
                         integrated_rom_size=ROM_SIZE if not firmware else
                         -(-len(firmware) * 4 // 0x1000) * 0x1000,
                         integrated_rom_init=firmware or [],
                         integrated_sram_size=SRAM_SIZE,
                         integrated_main_ram_size=0, **kwargs)
        self.snn = LogTTFSCore(core_cfg, external_base=EXTERNAL_BASE)
        size = 4 << (core_cfg.region_shift + 3)
        if SNN_BASE + size > GUARD_BASE:
            raise UserError(f"core: its window ({size >> 20} MiB at P = {core_cfg.pe}: "
                            f"{core_cfg.summary()}) exceeds the SoC's "
                            f"{(GUARD_BASE - SNN_BASE) >> 20} MiB for it")
        self.bus.add_slave("snn", self.snn.bus,
                           SoCRegion(origin=SNN_BASE, size=size, cached=False))
        if core_cfg.external_weights:
            # the core stages each layer's weights from main_ram (add_sdram adds it)
            self.bus.add_master("snn_weights", self.snn.ext_bus)
        self.add_constant("CATSNN_PE", core_cfg.pe)
        self.snn_window = (SNN_BASE, SNN_BASE + size)

    def do_finalize(self):
        if self.snn.cfg.external_weights and "main_ram" not in self.bus.regions:
            raise UserError("a core with external weights needs main_ram (DRAM) in the SoC")
        SoCCore.do_finalize(self)

    def add_guarded_etherbone(self, phy, ip_address: str, mac_address: int = 0x10E2D5000000):
        """LiteEth's UDP/IP core on ``phy`` (32-bit datapath in the sys clock domain) and its
        Etherbone record and Wishbone master, with the guard between the UDP port and them:
        requests may write only the core's window and read it and the guard's registers."""
        from liteeth.core import LiteEthUDPIPCore

        from catsnn.gateware.etherbone_guard import GuardedEtherbone
        from catsnn.gateware.etherbone_packet import GUARD_REGS

        self.ethphy = phy
        self.ethcore = LiteEthUDPIPCore(phy, mac_address, ip_address, self.clk_freq, dw=32,
                                        with_sys_datapath=True)
        port = self.ethcore.udp.crossbar.get_port(UDP_PORT, dw=32)
        # the host may write the core's window and the DRAM (if any), read those and the guard
        writable = [self.snn_window]
        if "main_ram" in self.bus.regions:
            r = self.bus.regions["main_ram"]
            writable.append((r.origin, r.origin + r.size))
        self.etherbone = eb = GuardedEtherbone(
            writable, writable + [(GUARD_BASE, GUARD_BASE + 4 * GUARD_REGS)])
        self.comb += [port.source.connect(eb.sink), eb.source.connect(port.sink)]
        crg = getattr(phy, "crg", None)
        if not getattr(phy, "model", False) and hasattr(phy, "rx_clk_freq"):   # a real PHY
            rx, tx = crg.cd_eth_rx.clk, crg.cd_eth_tx.clk
            self.platform.add_period_constraint(rx, 1e9 / phy.rx_clk_freq)
            if tx is not rx:
                self.platform.add_period_constraint(tx, 1e9 / phy.tx_clk_freq)
            self.platform.add_false_path_constraints(self.crg.cd_sys.clk, rx, tx)
        self.bus.add_master("etherbone", eb.bus)
        self.bus.add_slave("netguard", eb.guard.bus,
                           SoCRegion(origin=GUARD_BASE, size=0x1000, cached=False))
