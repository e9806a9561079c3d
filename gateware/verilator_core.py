"""The log-TTFS core under Verilator, driven from Python.

``build_core(cfg)`` exports the Migen core to Verilog and compiles it with the C harness
(`sim/core_harness.cpp`) into a shared library, cached under ``build/core/<hash>`` (rebuilt only
when the gateware, the harness, the configuration or Verilator change). ``CoreSim`` loads it
through ctypes: Wishbone reads and writes, and clocking until the core stops.
"""
from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from catsnn import paths
from catsnn.errors import UserError
from catsnn.gateware.core_config import CORE_ID, REG_ID, REGION_REGS, CoreConfig, word_address

HERE = Path(__file__).resolve().parent
TOP = "catsnn_core"


def core_verilog(cfg: CoreConfig) -> str:
    from migen.fhdl.verilog import convert

    from catsnn.gateware.log_ttfs_core import LogTTFSCore
    from migen import Module, Signal

    # top-level ports with fixed names (sim/core_harness.cpp uses them; Migen's own naming of
    # a record's fields depends on what else the design contains)
    class Top(Module):
        def __init__(self):
            self.submodules.core = core = LogTTFSCore(cfg)
            b = core.bus
            self.ports = {}
            for name, sig, out in [("adr", b.adr, 0), ("dat_w", b.dat_w, 0), ("dat_r", b.dat_r, 1),
                                   ("cyc", b.cyc, 0), ("stb", b.stb, 0), ("ack", b.ack, 1),
                                   ("we", b.we, 0), ("busy", core.busy, 1),
                                   ("done", core.done, 1), ("paused", core.paused, 1)]:
                port = Signal(len(sig), name=name)
                self.comb += port.eq(sig) if out else sig.eq(port)
                self.ports[name] = port
            if cfg.external_weights:     # the external memory, served by the harness
                e = core.ext_bus
                for name, sig, out in [("ext_adr", e.adr, 1), ("ext_cyc", e.cyc, 1),
                                       ("ext_stb", e.stb, 1), ("ext_dat_r", e.dat_r, 0),
                                       ("ext_ack", e.ack, 0)]:
                    port = Signal(len(sig), name=name)
                    self.comb += port.eq(sig) if out else sig.eq(port)
                    self.ports[name] = port
    top = Top()
    return str(convert(top, ios=set(top.ports.values()), name=TOP))


def _verilator_version() -> str:
    if shutil.which("verilator") is None:
        raise UserError("verilator is not installed (scripts/setup.sh installs it: "
                        "apt-get install verilator g++ make)")
    return subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout


def build_core(cfg: CoreConfig, build_root: Path | None = None, quiet=False) -> Path:
    """The harness library of the core (Wishbone window) for this configuration, built if not
    cached. Returns its path."""
    return build_verilated("core", core_verilog(cfg), TOP, "core_harness.cpp", cfg, build_root,
                           quiet, defines=["CATSNN_EXTERNAL"] if cfg.external_weights else [])


def build_verilated(kind: str, verilog: str, top: str, harness_name: str, cfg: CoreConfig,
                    build_root: Path | None = None, quiet=False, defines=()) -> Path:
    """A Verilog top with its C harness (sim/) as a shared library, cached under
    build/<kind>/<P>pe-<hash> (rebuilt only when the Verilog, the harness, the configuration or
    Verilator change)."""
    harness = (HERE / "sim" / harness_name).read_text()
    key = hashlib.sha256("\0".join([verilog, harness, _verilator_version(),
                                    repr(dataclasses.astuple(cfg))]).encode()).hexdigest()[:16]
    root = Path(build_root or paths.build_root()) / kind
    out = root / f"{cfg.pe}pe-{key}"
    name = f"libcatsnn_{kind}.so"
    lib = out / name
    if lib.exists():
        return lib
    tmp = root / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / f"{top}.v").write_text(verilog)
    (tmp / harness_name).write_text(harness)
    jobs = str(max(1, min(2, os.cpu_count() or 1)))
    cmd = ["verilator", "--cc", f"{top}.v", "--top-module", top, "--exe", harness_name,
           "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "-CFLAGS",
           " ".join(["-fPIC -O2", *[f"-D{d}" for d in defines]]), "-LDFLAGS", "-shared",
           "-o", name, "--build", "-j", jobs]
    if not quiet:
        print(f"{kind}: building the Verilator model (P={cfg.pe}) in {out} ...",
              file=sys.stderr, flush=True)
    t0 = time.time()
    r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if r.returncode != 0:
        (tmp / "build.log").write_text(r.stdout + r.stderr)
        raise UserError(f"{kind}: Verilator build failed, log in {tmp / 'build.log'}: "
                        f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    built = tmp / "obj_dir" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(built, lib.with_suffix(".tmp"))
    os.replace(lib.with_suffix(".tmp"), lib)
    (out / f"{top}.v").write_text(verilog)
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"{kind}: built in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return lib


class CoreError(UserError):
    pass


class CoreSim:
    """One simulated core (Verilator): Wishbone reads and writes, and clocking until it stops.
    ``host/verilator_device.py`` makes a device of it."""

    def __init__(self, cfg: CoreConfig = CoreConfig(), build_root=None, quiet=False):
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(build_core(cfg, build_root, quiet)))
        L = self.lib
        u32p = ctypes.POINTER(ctypes.c_uint32)
        L.core_new.restype = ctypes.c_void_p
        L.core_free.argtypes = [ctypes.c_void_p]
        L.core_write.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        L.core_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        L.core_read.restype = ctypes.c_uint32
        L.core_write_block.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, u32p]
        L.core_read_block.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, u32p]
        L.core_run.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        L.core_run.restype = ctypes.c_int64
        if cfg.external_weights:
            L.core_ext_write.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, u32p]
            L.core_ext_latency.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self.h = ctypes.c_void_p(L.core_new())
        ident = self.read(word_address(cfg, REGION_REGS, REG_ID))
        if ident & 0xFFFF != CORE_ID or (ident >> 16) & 0xFF != cfg.pe:
            raise CoreError(f"core: unexpected ID register {ident:#x}")

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None:
            self.lib.core_free(h)
            self.h = None

    def write(self, adr, dat):
        self.lib.core_write(self.h, adr, dat & 0xFFFFFFFF)

    def read(self, adr):
        return self.lib.core_read(self.h, adr)

    @staticmethod
    def _words(values):
        return (ctypes.c_uint32 * len(values))(*[int(v) & 0xFFFFFFFF for v in values])

    def write_block(self, adr, words):
        self.lib.core_write_block(self.h, adr, len(words), self._words(words))

    def write_external(self, adr, words):
        """Words into the external memory the core stages weights from (word addresses)."""
        self.lib.core_ext_write(self.h, adr, len(words), self._words(words))

    def set_external_latency(self, cycles: int):
        """Wait states before the external memory answers each read (a DRAM's latency)."""
        self.lib.core_ext_latency(self.h, cycles)

    def read_block(self, adr, n) -> list[int]:
        arr = (ctypes.c_uint32 * n)()
        self.lib.core_read_block(self.h, adr, n, arr)
        return list(arr)

    def run_until_stopped(self, max_cycles: int) -> int:
        """Clock the core until it is done or paused; the cycles clocked."""
        n = self.lib.core_run(self.h, max_cycles)
        if n < 0:
            raise CoreError(f"core: no result after {max_cycles} cycles (hung?)")
        return n


class AxiSim:
    """The core behind its AXI-Lite slave (axi_core.py) under Verilator, with the interface of
    ``pynq.MMIO``: ``read(offset)`` and ``write(offset, value)`` at byte offsets of the window.
    Every access is one AXI-Lite transaction; the core runs while they happen."""

    def __init__(self, cfg: CoreConfig = CoreConfig(), build_root=None, quiet=False):
        from catsnn.gateware.axi_core import TOP as AXI_TOP, axi_core_verilog
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(build_verilated("axi", axi_core_verilog(cfg), AXI_TOP,
                                                   "axi_harness.cpp", cfg, build_root, quiet)))
        L = self.lib
        L.axi_new.restype = ctypes.c_void_p
        L.axi_free.argtypes = [ctypes.c_void_p]
        L.axi_write.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        L.axi_write.restype = ctypes.c_int
        L.axi_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int)]
        L.axi_read.restype = ctypes.c_uint32
        L.axi_idle.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        self.h = ctypes.c_void_p(L.axi_new())
        self._ok = ctypes.c_int()

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None:
            self.lib.axi_free(h)
            self.h = None

    def read(self, offset: int) -> int:
        value = self.lib.axi_read(self.h, offset, ctypes.byref(self._ok))
        if not self._ok.value:
            raise CoreError(f"AXI-Lite read at {offset:#x}: no response")
        return value

    def write(self, offset: int, value: int) -> None:
        if self.lib.axi_write(self.h, offset, value & 0xFFFFFFFF) != 0:
            raise CoreError(f"AXI-Lite write at {offset:#x}: no response")
