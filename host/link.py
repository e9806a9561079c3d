"""The host side of the framed protocol: one request, one reply, with timeouts and retries.

Transport: pyserial URLs, so ``/dev/ttyUSB1`` on a board and ``socket://127.0.0.1:PORT`` for the
simulation go through the same code (sockets get TCP_NODELAY: small frames must not wait for
Nagle). Every exchange has a deadline; a reply that does not come is asked for again (same
sequence number: the firmware's commands are safe to repeat), and a dead link ends in one clear
error, never a hang.
"""
from __future__ import annotations

import random
import socket
import struct
import time

from catsnn.errors import UserError
from catsnn.host import protocol as P


class LinkError(UserError):
    pass


class DeviceError(UserError):
    def __init__(self, code: int, message: str, command: int):
        self.code, self.message, self.command = code, message, command
        super().__init__(f"device refused command {command:#04x}: "
                         f"{P.ERROR_NAMES.get(code, f'error {code}')}: {message}")


# error replies that say the request frame itself arrived damaged: worth sending again
TRANSPORT_ERRORS = (P.ERR_BAD_CRC, P.ERR_TRUNCATED, P.ERR_OVERSIZE)


class Link:
    def __init__(self, url: str, timeout: float = 10.0, retries: int = 2, baudrate=115200):
        import serial
        self.url, self.timeout, self.retries = url, timeout, retries
        try:
            self.ser = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError, OSError) as e:
            raise LinkError(f"cannot open {url}: {e}") from None
        sock = getattr(self.ser, "_socket", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # sequence numbers 1..255, from a random start: 0 is the firmware's (its boot hello,
        # errors about frames cut before their sequence byte), and a new client's first request
        # is unlikely to repeat the previous client's last one (which the firmware would take
        # for a resend)
        self.seq = random.randrange(1, 256)
        self.bytes_out = self.bytes_in = 0
        self.seconds = 0.0
        self.resent = 0                   # requests sent again (no reply, or a transport error)
        self.buf = bytearray()

    def close(self):
        self.ser.close()

    def send_raw(self, data: bytes):
        """Write bytes as they are (tests use it for corrupt frames and line noise)."""
        try:
            self.ser.write(data)
            self.ser.flush()
        except Exception as e:   # serial.SerialException, OSError on a closed socket
            raise LinkError(f"{self.url}: write failed: {e}") from None
        self.bytes_out += len(data)

    def _fill(self, deadline: float) -> bool:
        try:
            chunk = self.ser.read(max(1, self.ser.in_waiting or 1))
        except Exception as e:
            raise LinkError(f"{self.url}: read failed: {e}") from None
        if chunk:
            self.buf += chunk
            self.bytes_in += len(chunk)
            return True
        return time.monotonic() < deadline

    def read_frame(self, deadline: float):
        """The next well-formed frame (type, seq, payload), or None at the deadline. Bytes that
        do not form a frame with a good CRC are dropped (resync on the next magic)."""
        while True:
            i = self.buf.find(P.MAGIC)
            if i < 0:
                del self.buf[:max(0, len(self.buf) - 1)]
            else:
                del self.buf[:i]
                if len(self.buf) >= P.HEADER.size:
                    _, ftype, seq, n = P.HEADER.unpack_from(self.buf)
                    if n > P.MAX_PAYLOAD:
                        del self.buf[:2]
                        continue
                    end = P.HEADER.size + n + 4
                    if len(self.buf) >= end:
                        body = bytes(self.buf[2:P.HEADER.size + n])
                        (crc,) = struct.unpack_from("<I", self.buf, P.HEADER.size + n)
                        if crc == P.crc32(body):
                            payload = bytes(self.buf[P.HEADER.size:P.HEADER.size + n])
                            del self.buf[:end]
                            return ftype, seq, payload
                        del self.buf[:2]
                        continue
            if not self._fill(deadline):
                return None

    def request(self, ftype: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one command, return its reply's payload. A reply that does not come, or an
        error saying the request arrived damaged (bad CRC, cut, oversize), sends the same frame
        again: the firmware answers a resent request without acting twice. Raises DeviceError
        for any other error reply, LinkError when no reply comes after the retries."""
        timeout = self.timeout if timeout is None else timeout
        self.seq = self.seq % 255 + 1
        frame = P.encode(ftype, self.seq, payload)
        t0 = time.monotonic()
        try:
            damaged = None
            for attempt in range(self.retries + 1):
                if attempt:
                    self.resent += 1
                self.send_raw(frame)
                deadline = time.monotonic() + timeout
                while True:
                    got = self.read_frame(deadline)
                    if got is None:
                        break                       # timeout: send again
                    rtype, rseq, rpayload = got
                    if rseq != self.seq:
                        continue                    # a stale reply (or the boot hello)
                    if rtype == P.ERROR:
                        code = rpayload[0] if rpayload else 0
                        err = DeviceError(code, rpayload[1:].decode("ascii", "replace"), ftype)
                        if code in TRANSPORT_ERRORS:
                            damaged = err
                            break                   # it arrived damaged: send again
                        raise err
                    if rtype == ftype | P.REPLY:
                        return rpayload
            if damaged is not None:
                raise damaged
            raise LinkError(f"no reply from the device at {self.url} to command {ftype:#04x} "
                            f"after {self.retries + 1} tries of {timeout:.0f} s (is it running?)")
        finally:
            self.seconds += time.monotonic() - t0
