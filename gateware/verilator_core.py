"""The log-TTFS core under Verilator, driven from Python.

``build_core(cfg)`` exports the Migen core to Verilog and compiles it with the C harness
(`sim/core_harness.cpp`) into a shared library, cached under ``build/core/<hash>`` (rebuilt only
when the gateware, the harness, the configuration or Verilator change). ``CoreSim`` loads it
through ctypes: Wishbone reads/writes, run, and the higher-level steps the evaluation backend
uses (load a model, run an image layer by layer, read spike maps and potentials).
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

import torch

from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError
from catsnn.gateware.core_config import (COUNTERS, CORE_ID, CTRL_CONTINUE, CTRL_START,
                                         CTRL_STEP, REG_CTRL, REG_ID, REG_NLAYERS, REG_PROGRAM,
                                         REG_STATUS, REGION_BIAS, REGION_COUNTERS, REGION_IMAGE,
                                         REGION_MAP0, REGION_MAP1, REGION_MEMBRANE, REGION_REGS,
                                         REGION_WEIGHT, STATUS_DONE, STATUS_PAUSED, CoreConfig,
                                         bank_address, from_wide_bus_words, image_bytes,
                                         lane_address, memory_images, plan_model, spike_map,
                                         spike_map_bus_words, weight_bus_words, wide_bus_words,
                                         word_address)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
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
    top = Top()
    return str(convert(top, ios=set(top.ports.values()), name=TOP))


def _verilator_version() -> str:
    if shutil.which("verilator") is None:
        raise UserError("verilator is not installed (scripts/setup.sh installs it: "
                        "apt-get install verilator g++ make)")
    return subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout


def build_core(cfg: CoreConfig, build_root: Path | None = None, quiet=False) -> Path:
    """The harness library for this configuration, built if not cached. Returns its path."""
    verilog = core_verilog(cfg)
    harness = (HERE / "sim" / "core_harness.cpp").read_text()
    key = hashlib.sha256("\0".join([verilog, harness, _verilator_version(),
                                    repr(dataclasses.astuple(cfg))]).encode()).hexdigest()[:16]
    root = Path(build_root or os.environ.get("CATSNN_BUILD", REPO / "build")) / "core"
    out = root / f"{cfg.pe}pe-{key}"
    lib = out / "libcatsnn_core.so"
    if lib.exists():
        return lib
    tmp = root / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / f"{TOP}.v").write_text(verilog)
    shutil.copy(HERE / "sim" / "core_harness.cpp", tmp / "core_harness.cpp")
    jobs = str(max(1, min(2, os.cpu_count() or 1)))
    cmd = ["verilator", "--cc", f"{TOP}.v", "--top-module", TOP, "--exe", "core_harness.cpp",
           "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "-CFLAGS", "-fPIC -O2", "-LDFLAGS", "-shared",
           "-o", "libcatsnn_core.so", "--build", "-j", jobs]
    if not quiet:
        print(f"core: building the Verilator model (P={cfg.pe}) in {out} ...", file=sys.stderr,
              flush=True)
    t0 = time.time()
    r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if r.returncode != 0:
        (tmp / "build.log").write_text(r.stdout + r.stderr)
        raise UserError(f"core: Verilator build failed, log in {tmp / 'build.log'}: "
                        f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    built = tmp / "obj_dir" / "libcatsnn_core.so"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(built, lib.with_suffix(".tmp"))
    os.replace(lib.with_suffix(".tmp"), lib)
    (out / f"{TOP}.v").write_text(verilog)
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"core: built in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return lib


class CoreError(UserError):
    pass


@dataclasses.dataclass
class CoreRun:
    spike_times: list          # per firing layer: uint8 (C, H, W), NO_SPIKE = 255 (step mode)
    potentials: torch.Tensor   # int64 (classes,), units of 2^-F of the model
    counters: dict             # name -> list per layer
    cycles: int                # core cycles of the run (pauses excluded)


class CoreSim:
    """One simulated core (Verilator), with a model loaded into its memories."""

    def __init__(self, cfg: CoreConfig = CoreConfig(), build_root=None, quiet=False):
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(build_core(cfg, build_root, quiet)))
        L = self.lib
        L.core_new.restype = ctypes.c_void_p
        L.core_free.argtypes = [ctypes.c_void_p]
        L.core_write.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        L.core_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        L.core_read.restype = ctypes.c_uint32
        L.core_write_block.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                       ctypes.c_void_p]
        L.core_read_block.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                      ctypes.c_void_p]
        L.core_run.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        L.core_run.restype = ctypes.c_int64
        self.h = ctypes.c_void_p(L.core_new())
        ident = self.read(word_address(cfg, REGION_REGS, REG_ID))
        if ident & 0xFFFF != CORE_ID or (ident >> 16) & 0xFF != cfg.pe:
            raise CoreError(f"core: unexpected ID register {ident:#x}")
        self.art = None

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None:
            self.lib.core_free(h)
            self.h = None

    # -- bus
    def write(self, adr, dat):
        self.lib.core_write(self.h, adr, dat & 0xFFFFFFFF)

    def read(self, adr):
        return self.lib.core_read(self.h, adr)

    def write_block(self, adr, words):
        words = [int(w) & 0xFFFFFFFF for w in words]
        arr = (ctypes.c_uint32 * len(words))(*words)
        self.lib.core_write_block(self.h, adr, len(words), arr)

    def read_block(self, adr, n) -> list[int]:
        arr = (ctypes.c_uint32 * n)()
        self.lib.core_read_block(self.h, adr, n, arr)
        return list(arr)

    # -- model and images
    def load_model(self, art: ModelArtifact):
        cfg = self.cfg
        self.plans = plan_model(art, cfg)
        weights, biases, program = memory_images(art, cfg, self.plans)
        self.write_block(lane_address(cfg, REGION_WEIGHT, 0), weight_bus_words(weights, cfg.pe))
        for b in range(cfg.pe):
            self.write_block(bank_address(cfg, REGION_BIAS, b, 0, cfg.bias_depth, True),
                             wide_bus_words(biases[b]))
        self.write_block(word_address(cfg, REGION_REGS, REG_PROGRAM), program)
        self.write(word_address(cfg, REGION_REGS, REG_NLAYERS), len(art.layers))
        self.art = art

    def _wait(self, max_cycles):
        n = self.lib.core_run(self.h, max_cycles)
        if n < 0:
            raise CoreError(f"core: no result after {max_cycles} cycles (hung?)")
        return n

    def read_map(self, layer: int) -> torch.Tensor:
        """Layer ``layer``'s output spike map as uint8 (C, H, W), NO_SPIKE = 255."""
        cfg, p = self.cfg, self.plans[layer]
        region = REGION_MAP1 if layer % 2 else REGION_MAP0
        words = self.read_block(lane_address(cfg, region, 0), spike_map_bus_words(p, cfg.pe))
        return spike_map(words, p, cfg.pe)

    def read_potentials(self) -> torch.Tensor:
        cfg, p = self.cfg, self.plans[-1]
        vals = []
        for co in range(p.cout):
            b, g = co % cfg.pe, co // cfg.pe
            vals += from_wide_bus_words(self.read_block(
                bank_address(cfg, REGION_MEMBRANE, b, g, cfg.membrane_depth, True), 2))
        return torch.tensor(vals, dtype=torch.int64)

    def run_image(self, pixels: torch.Tensor, with_maps=False, max_cycles=200_000_000) -> CoreRun:
        """One uint8 (C, H, W) image through the loaded model. with_maps: step mode, every
        layer's spike map read back after that layer."""
        cfg = self.cfg
        if self.art is None:
            raise CoreError("core: no model loaded")
        data = image_bytes(pixels)
        self.write_block(word_address(cfg, REGION_IMAGE, 0), list(data))
        ctrl = word_address(cfg, REGION_REGS, REG_CTRL)
        status = word_address(cfg, REGION_REGS, REG_STATUS)
        self.write(ctrl, CTRL_START | (CTRL_STEP if with_maps else 0))
        maps = []
        for i, l in enumerate(self.art.layers):
            self._wait(max_cycles)
            st = self.read(status)
            last = i == len(self.art.layers) - 1
            if not with_maps:
                if not st & STATUS_DONE:
                    raise CoreError(f"core: stopped before the end (status {st:#x})")
                break
            if l.fires:
                maps.append(self.read_map(i))
            if last:
                if not st & STATUS_DONE:
                    raise CoreError(f"core: not done after the last layer (status {st:#x})")
            elif not st & STATUS_PAUSED:
                raise CoreError(f"core: layer {i}: expected a pause (status {st:#x})")
            else:
                self.write(ctrl, CTRL_CONTINUE | CTRL_STEP)
        n = len(self.art.layers) * len(COUNTERS)
        raw = self.read_block(word_address(cfg, REGION_COUNTERS, 0), n)
        counters = {name: [raw[i * len(COUNTERS) + j] for i in range(len(self.art.layers))]
                    for j, name in enumerate(COUNTERS)}
        return CoreRun(maps, self.read_potentials(), counters, sum(counters["cycles"]))
