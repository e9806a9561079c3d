"""The SoC over Ethernet: the core's window driven from the host with guarded Etherbone
(``host/etherbone_bus.py``), the same commands as every window device (host/window_device.py).
The SoC's firmware is not involved: it keeps serving the UART."""
from __future__ import annotations

from catsnn.gateware.core_config import CoreConfig
from catsnn.host.etherbone_bus import EtherboneBus, parse_udp_url
from catsnn.host.window_device import WindowDevice


class UdpDevice(WindowDevice):
    def __init__(self, url: str, timeout: float = 30.0, sock=None, sim=None):
        host, port = parse_udp_url(url)
        self.sim, self.url = sim, url
        bus = EtherboneBus(host, port, timeout=timeout, sock=sock)
        try:
            super().__init__(bus, f"SoC at {url} (Etherbone)")
        except BaseException:
            bus.close()
            raise

    @classmethod
    def simulated(cls, cfg: CoreConfig, timeout: float = 30.0, **shape):
        """A private simulated SoC with Ethernet, in a network namespace of its own; stopped
        by close(); ``shape``: SDRAM, CPU variant (``SimulatedSoC``)."""
        from catsnn.host.simulation import SimulatedSoC
        sim = SimulatedSoC(cfg, ethernet=True, **shape)
        try:
            return cls(f"udp://{sim.soc_ip}", timeout=timeout, sock=sim.udp_socket(), sim=sim)
        except BaseException:
            sim.stop()
            raise

    def stats(self) -> dict:
        b = self.bus
        return {"link_bytes_per_s": (b.bytes_in + b.bytes_out) / b.seconds if b.seconds else 0.0,
                "link_bytes": b.bytes_in + b.bytes_out, "link_packets": b.packets,
                "link_resent": b.resent}

    def close(self) -> None:
        if getattr(self, "bus", None) is not None:
            self.bus.close()
        if getattr(self, "sim", None) is not None:
            self.sim.stop()
            self.sim = None

    def __del__(self):
        self.close()
