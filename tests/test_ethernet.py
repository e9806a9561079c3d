"""The SoC over Ethernet (issue 12): the simulated SoC with LiteEth and the Etherbone guard, in a
private network namespace; real CIFAR-10 images through the shipped model over UDP, checked
layer by layer against the reference; a link that drops, corrupts, duplicates and reorders
packets, and a network that sends garbage, truncated, oversize, stale and out-of-range requests:
the guard drops them (its counters say why), the host retries, and the results stay exact.
Also the host's errors for a dead or silent address and a second client."""
import random
import socket
import struct
import threading
import time

import pytest

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware.core_config import REGION_IMAGE, CoreConfig, word_address
from catsnn.gateware.etherbone_packet import (DROP_REASONS, GUARD_BASE, REG_PASSED,
                                              encode_request, next_seq)
from catsnn.host.backends import DeviceBackend, EvalOptions, ReferenceBackend
from catsnn.host.etherbone_bus import LinkError
from catsnn.host.evaluate import compare
from catsnn.host.udp_device import UdpDevice

CFG = CoreConfig.compact(16)


@pytest.fixture(scope="module")
def eth_sim():
    from catsnn.host.simulation import SimulatedSoC
    with SimulatedSoC(CFG, ethernet=True) as s:
        yield s


class FaultySocket:
    """A UDP socket whose requests are dropped, corrupted (one bit: the guard's CRC catches it),
    cut short, duplicated or held back and sent after the next one (reordered), and whose
    replies are dropped, each at random; every request sent is kept for replays."""

    def __init__(self, sock, seed, rate=0.04):
        self.sock, self.rng, self.rate = sock, random.Random(seed), rate
        self.held, self.sent = None, []
        self.faults = dict.fromkeys(("drop", "flip", "cut", "dup", "hold", "reply"), 0)

    def _fault(self, name):
        if self.rng.random() < self.rate:
            self.faults[name] += 1
            return True
        return False

    def sendto(self, data, addr):
        self.sent.append(data)
        out = []
        if self._fault("drop"):
            pass
        elif self._fault("flip"):
            b = bytearray(data)
            b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
            out.append(bytes(b))
        elif self._fault("cut"):
            out.append(data[:self.rng.randrange(1, len(data))])
        elif self._fault("dup"):
            out += [data, data]
        elif self._fault("hold") and self.held is None:
            self.held = data
        else:
            out.append(data)
        if self.held is not None and data is not self.held:
            out.append(self.held)
            self.held = None
        for d in out:
            self.sock.sendto(d, addr)

    def recvfrom(self, n):
        while True:
            data, src = self.sock.recvfrom(n)
            if not self._fault("reply"):
                return data, src

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        self.sock.close()


def guard_counts(dev):
    regs = dev.bus.guard_registers()
    return {"passed": regs[REG_PASSED], **{k: regs[r] for k, r in DROP_REASONS.items()}}


def check_images(be, art, x, offset):
    out = be.run(x)
    bad, first = compare(ReferenceBackend(art).run(x), out, art, offset)
    assert not bad.any(), first
    return out


@pytest.mark.slow
def test_ten_real_images_bit_exact_over_udp(eth_sim, data, shipped_model):
    art = load_artifact(shipped_model)
    x = load_split(data, train=False).images[:10]
    dev = UdpDevice(f"udp://{eth_sim.soc_ip}", timeout=30, sock=eth_sim.udp_socket())
    be = DeviceBackend("soc", art, "", EvalOptions(check=True, progress=False), device=dev)
    try:
        assert be.driver.load_s < 10
        out = check_images(be, art, x, 0)
        assert (out.sops.sum(1) > 10 ** 6).all()
        info = be.info()
        assert info["link_bytes_per_s"] > 0 and "Etherbone" in info["device"]
        counts = guard_counts(dev)
        assert counts["passed"] > 100 and not any(counts[k] for k in DROP_REASONS), counts
    finally:
        be.close()


@pytest.mark.slow
def test_a_faulty_link_and_a_hostile_network_change_nothing(eth_sim, data, shipped_model):
    art = load_artifact(shipped_model)
    x = load_split(data, train=False).images[10:12]
    faulty = FaultySocket(eth_sim.udp_socket(), seed=3)
    dev = UdpDevice(f"udp://{eth_sim.soc_ip}", timeout=30, sock=faulty)
    before = guard_counts(dev)
    be = DeviceBackend("soc", art, "", EvalOptions(check=True, progress=False), device=dev)
    try:
        check_images(be, art, x[:1], 10)
        # another machine on the network: replays, garbage, cut, oversize, out-of-range
        rng = random.Random(4)
        hostile = eth_sim.udp_socket()
        to = (eth_sim.soc_ip, 1234)
        writes = [p for p in faulty.sent if p[10] > 0]           # records with writes
        for p in rng.sample(writes, 20):                         # stale: replayed, reordered
            hostile.sendto(p, to)
        for _ in range(50):                                      # a burst of garbage
            hostile.sendto(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 1400))), to)
        for p in rng.sample(writes, 10):                         # cut short
            hostile.sendto(p[:rng.randrange(1, len(p))], to)
        hostile.sendto(bytes(1472), to)                          # the largest datagram
        hostile.sendto(writes[0] + bytes(3000), to)              # oversize (IP fragments)
        hostile.sendto(encode_request(next_seq(dev.bus.seq), GUARD_BASE, [1],
                                      tag=1, reads=[GUARD_BASE]), to)   # write outside
        hostile.sendto(encode_request(0, tag=2, reads=[0x40000000]), to)  # read the CPU's RAM
        hostile.close()
        check_images(be, art, x[1:], 11)
        after = guard_counts(dev)
        dropped = {k: after[k] - before[k] for k in DROP_REASONS}
        for why in DROP_REASONS:                   # every kind of bad request was rejected
            assert dropped[why] > 0, (why, dropped, faulty.faults)
        assert dev.bus.resent > 0 and sum(faulty.faults.values()) > 10, faulty.faults
    finally:
        be.close()


@pytest.mark.slow
def test_a_second_client_is_an_error_not_a_mixed_model(eth_sim):
    """Two hosts: a write by another client since a host's own last write makes that host's
    next write one clear error, not a write into a model it did not load."""
    image = word_address(CFG, REGION_IMAGE, 0)      # an image byte: harmless to write
    a = UdpDevice(f"udp://{eth_sim.soc_ip}", timeout=5, sock=eth_sim.udp_socket())
    b = None
    try:
        a.bus.write(image, 1)
        b = UdpDevice(f"udp://{eth_sim.soc_ip}", timeout=5, sock=eth_sim.udp_socket())
        b.bus.write(image, 2)
        with pytest.raises(LinkError, match="another client"):
            a.bus.write(image, 3)
        assert b.bus.read(image) == 2
    finally:
        a.close()
        if b is not None:
            b.close()


def test_a_dead_address_is_a_clear_error():
    """Nothing listens on that UDP port (loopback): an ICMP error, reported at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="unreachable|no reply"):
        UdpDevice(f"udp://127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - t0 < 5


def test_a_silent_device_times_out_with_a_clear_error():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    got = []
    threading.Thread(target=lambda: got.append(srv.recvfrom(2048)), daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=r"no reply from udp://127.0.0.1:\d+ in 1 s"):
        UdpDevice(f"udp://127.0.0.1:{srv.getsockname()[1]}", timeout=1)
    assert 0.9 < time.monotonic() - t0 < 4 and got, "it asked, waited about the timeout"
    srv.close()


def test_bad_udp_urls_are_refused():
    from catsnn.errors import UserError
    with pytest.raises(UserError, match="bad UDP port"):
        UdpDevice("udp://192.0.2.50:http")


def test_without_root_the_ethernet_simulation_says_why(monkeypatch):
    """Where the kernel refuses a network namespace (not root: EPERM), one clear error comes
    before any build; the UART simulation does not need one."""
    import ctypes
    import errno
    from catsnn.errors import UserError
    from catsnn.host import netns, simulation

    class RefusingLibc:
        def unshare(self, flags):
            ctypes.set_errno(errno.EPERM)
            return -1

        def setns(self, fd, flags):
            return 0
    monkeypatch.setattr(netns, "_libc", RefusingLibc())

    def no_build(*a, **k):
        raise AssertionError("built before checking the namespace")
    monkeypatch.setattr(simulation, "build_sim", no_build)
    with pytest.raises(UserError, match=r"needs a private network namespace and cannot make "
                                        r"one \(Operation not permitted.*--port sim\) works"):
        simulation.SimulatedSoC(ethernet=True)
