"""A private network namespace for the simulated SoC's Ethernet.

LiteX's simulated PHY is a TAP device, which needs CAP_NET_ADMIN and would otherwise appear
among the machine's own interfaces. ``PrivateNetwork`` makes a fresh network namespace (Linux
``unshare(CLONE_NEWNET)``, as root), brings its loopback up and returns the calling thread to
the namespace it came from; ``inside()`` enters it for a moment, so that what is started or
opened there (the simulator and its TAP, the host's UDP socket) lives there for good while the
rest of the process keeps the machine's network. Nothing outside the namespace is touched; it
disappears with the last process or socket in it. ``attach(name)`` gives it a name under
/run/netns (``ip netns``), so that other commands can join it (``ip netns exec NAME ...``).
"""
from __future__ import annotations

import ctypes
import os
import subprocess
from contextlib import contextmanager

from catsnn.errors import UserError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class PrivateNetwork:
    def __init__(self):
        self.name = None
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if _libc.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            os.close(home)
            raise UserError(
                f"the Ethernet simulation needs a private network namespace and cannot make one "
                f"({os.strerror(e)}: unshare(CLONE_NEWNET) needs root or CAP_SYS_ADMIN); the "
                f"UART simulation (--port sim) works without")
        try:
            self.fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, subprocess.CalledProcessError) as e:
            raise UserError(f"cannot set up the private network namespace: {e} (the `ip` "
                            f"command comes with the Debian package iproute2)") from None
        finally:
            _setns(home)
            os.close(home)

    @contextmanager
    def inside(self):
        """This thread in the namespace for the duration of the block."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(self.fd)
            yield
        finally:
            _setns(home)
            os.close(home)

    def attach(self, name: str, pid: int) -> None:
        """Name the namespace (process ``pid`` lives in it) for `ip netns exec NAME`."""
        subprocess.run(["ip", "netns", "attach", name, str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.name = name

    def close(self) -> None:
        if self.name:
            subprocess.run(["ip", "netns", "delete", self.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.name = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
