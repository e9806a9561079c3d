"""The core's window over Ethernet: guarded Etherbone requests on UDP (a bus for WindowDevice).

Each request is one UDP datagram in catsnn's Etherbone format (gateware/etherbone_packet.py)
and gets one reply before the next is sent (stop-and-wait: LiteEth's Etherbone has no flow
control, and back-to-back writes wedge it). Replies are matched by their tag; a stale or
foreign datagram is ignored.

- Reads carry SEQ 0; a lost request or reply is simply asked again.
- Writes carry the next SEQ (with this client's random 16-bit id in its high half) and read
  back the guard's ACCEPTED register, which acknowledges them. When no reply comes, the host
  reads ACCEPTED: if it holds this SEQ, the write happened and only the reply was lost; if it
  holds the previous one, the request was lost or dropped by the guard (bad CRC on the way) and
  is sent again; any other value means another client wrote to the device since, which is an
  error (one client at a time: the last one to write has the device).
- Each wait grows from ``RETRY_S`` to at most ``timeout`` in all; then a dead link is one clear
  error naming the address.
"""
from __future__ import annotations

import random
import socket
import time

from catsnn.errors import UserError
from catsnn.gateware.core_config import EXTERNAL_BASE, REG_STATUS, STATUS_BUSY
from catsnn.gateware.etherbone_packet import (GUARD_BASE, GUARD_REGS, MAX_READS, MAX_WRITES,
                                              REG_ACCEPTED, SNN_BASE, UDP_PORT, PacketError,
                                              decode_reply, encode_request, next_seq)

RETRY_S = 0.25
BUSY_POLL_S = 0.01


class LinkError(UserError):
    """The device does not answer, or answers as no single client's device would."""


def parse_udp_url(url: str) -> tuple[str, int]:
    """``udp://HOST[:PORT]`` -> (host, port)."""
    if not url.startswith("udp://"):
        raise UserError(f"not a UDP address: {url!r} (udp://HOST[:PORT])")
    rest = url[6:].rstrip("/")
    host, _, port = rest.partition(":")
    try:
        return host, int(port) if port else UDP_PORT
    except ValueError:
        raise UserError(f"bad UDP port in {url!r}") from None


class EtherboneBus:
    def __init__(self, host: str, port: int = UDP_PORT, timeout: float = 30.0,
                 sock: socket.socket | None = None, run_timeout: float = 600.0):
        self.addr = (host, port)
        self.where = f"udp://{host}:{port}"
        self.timeout, self.run_timeout = timeout, run_timeout
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tag = random.getrandbits(31) | 1
        self.client = random.randrange(1, 1 << 16)      # the high half of our SEQs
        self.packets = self.bytes_out = self.bytes_in = self.resent = 0
        self.seconds = 0.0
        try:
            self.seq = self._read_words([GUARD_BASE + 4 * REG_ACCEPTED])[0]
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # ---------------------------------------------------------------- one exchange

    def _exchange(self, request_for_tag, wait: float) -> list[int] | None:
        """Send the request built for a fresh tag; its reply's words, or None after ``wait``
        seconds."""
        self.tag = (self.tag + 1) & 0x7FFFFFFF or 1
        tag = self.tag
        packet = request_for_tag(tag)
        t0 = time.monotonic()
        try:
            self.sock.sendto(packet, self.addr)
        except OSError as e:
            raise LinkError(f"{self.where}: cannot send ({e})") from None
        self.packets += 1
        self.bytes_out += len(packet)
        end = t0 + wait
        try:
            while (left := end - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    data, src = self.sock.recvfrom(4096)
                except socket.timeout:
                    break
                except ConnectionRefusedError:    # ICMP port unreachable: not our SoC
                    raise LinkError(f"{self.where}: port unreachable (is it a catsnn SoC "
                                    f"with Ethernet?)") from None
                if src != self.addr:
                    continue
                try:
                    rtag, words = decode_reply(data)
                except PacketError:
                    continue
                if rtag == tag:
                    self.bytes_in += len(data)
                    return words
            return None
        finally:
            self.seconds += time.monotonic() - t0

    def _attempts(self):
        """Waits for successive attempts, growing, until ``timeout`` has passed."""
        deadline = time.monotonic() + self.timeout
        wait, first = RETRY_S, True
        while (left := deadline - time.monotonic()) > 0:
            if not first:
                self.resent += 1
            first = False
            yield min(wait, left)
            wait = min(wait * 2, 2.0)

    def _dead(self) -> LinkError:
        return LinkError(f"no reply from {self.where} in {self.timeout:.0f} s (is the board "
                         f"or simulation running, and the address right?)")

    def _read_words(self, addrs: list[int]) -> list[int]:
        for wait in self._attempts():
            words = self._exchange(lambda tag: encode_request(0, tag=tag, reads=addrs), wait)
            if words is not None:
                if len(words) != len(addrs):
                    raise LinkError(f"{self.where}: {len(words)} words for {len(addrs)} reads")
                return words
        raise self._dead()

    def _write_words(self, byte_addr: int, words: list[int]) -> None:
        seq = next_seq(self.seq, self.client)
        acc = [GUARD_BASE + 4 * REG_ACCEPTED]
        for wait in self._attempts():
            reply = self._exchange(
                lambda tag: encode_request(seq, byte_addr, words, tag=tag, reads=acc), wait)
            accepted = reply[0] if reply is not None else self._read_words(acc)[0]
            if accepted == seq:
                self.seq = seq
                return
            if accepted != self.seq:
                raise LinkError(f"{self.where}: the device's write sequence moved from "
                                f"{self.seq} to {accepted}: another client is using it")
            # the request was lost or dropped on the way: send it again
        raise self._dead()

    # ---------------------------------------------------------------- the window bus

    def read(self, adr: int) -> int:
        return self._read_words([SNN_BASE + 4 * adr])[0]

    def write(self, adr: int, value: int) -> None:
        self._write_words(SNN_BASE + 4 * adr, [value & 0xFFFFFFFF])

    def read_block(self, adr: int, n: int) -> list[int]:
        return self.read_memory(SNN_BASE + 4 * adr, n)

    def write_block(self, adr: int, values) -> None:
        self.write_memory(SNN_BASE + 4 * adr, values)

    def write_external(self, adr: int, values) -> None:
        """Weight words of a core with external weights: into the SoC's DRAM, from which the
        core stages each layer (word ``adr`` at EXTERNAL_BASE + 4 adr)."""
        self.write_memory(EXTERNAL_BASE + 4 * adr, values)

    # ---------------------------------------------------------------- any writable memory

    def read_memory(self, byte_addr: int, n: int) -> list[int]:
        """n words from byte address ``byte_addr`` (the window, or the SoC's DRAM)."""
        out = []
        for i in range(0, n, MAX_READS):
            m = min(MAX_READS, n - i)
            out += self._read_words([byte_addr + 4 * (i + k) for k in range(m)])
        return out

    def write_memory(self, byte_addr: int, values) -> None:
        values = [int(v) & 0xFFFFFFFF for v in values]
        for i in range(0, len(values), MAX_WRITES):
            self._write_words(byte_addr + 4 * i, values[i:i + MAX_WRITES])

    def wait_stopped(self) -> None:
        # STATUS is in region 0: its word address does not depend on the core's size
        deadline = time.monotonic() + self.run_timeout
        while self.read(REG_STATUS) & STATUS_BUSY:
            if time.monotonic() > deadline:
                raise LinkError(f"{self.where}: the core is still busy after "
                                f"{self.run_timeout:.0f} s")
            time.sleep(BUSY_POLL_S)

    def guard_registers(self) -> list[int]:
        return self._read_words([GUARD_BASE + 4 * r for r in range(GUARD_REGS)])
