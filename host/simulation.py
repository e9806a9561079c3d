"""The simulated SoC (the default target): build it once, start it, stop it.

Build (cached under build/sim/<hash>, rebuilt only when the gateware, the firmware, the protocol
or the core configuration change), as a chain of named steps, each timed:

1. ``headers``: LiteX generates the SoC's headers and builds its software libraries.
2. ``firmware``: firmware/ is compiled against them (RISC-V GCC) into the ROM image.
3. ``verilator``: the SoC with that ROM is exported to Verilog and compiled by Verilator.

``SimulatedSoC`` runs the binary with the UART on a free local TCP port (LiteX's ``serial2tcp``)
and gives the pyserial URL to connect to. The Ethernet variant (``ethernet=True``: LiteEth and
the Etherbone guard, a TAP PHY) is a build of its own; it runs inside a private network
namespace (host/netns.py) where the SoC is 192.0.2.50 and the host's TAP 192.0.2.100, and
``SimulatedSoC.udp_socket()`` opens the host's socket there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from catsnn import paths
from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig, c_header
from catsnn.host import protocol

# what a built SoC depends on: these packages' files, and two modules of host/
SOURCE_PACKAGES = ["catsnn.gateware", "catsnn.boards", "catsnn.firmware"]
SOURCE_MODULES = ["protocol.py", "simulation.py"]


def _log(msg):
    print(f"sim: {msg}", file=sys.stderr, flush=True)


def source_hash(core_cfg: CoreConfig) -> str:
    h = hashlib.sha256(repr(core_cfg).encode())
    here = Path(__file__).resolve().parent
    items = [(pkg, paths.package_dir(pkg)) for pkg in SOURCE_PACKAGES]
    for name, folder in items:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".c", ".h", ".ld", ".cpp", "") and \
                    "__pycache__" not in f.parts:
                h.update(f"{name}/{f.relative_to(folder)}".encode() + b"\0" + f.read_bytes())
    for m in SOURCE_MODULES:
        h.update(f"catsnn.host/{m}".encode() + b"\0" + (here / m).read_bytes())
    import litex
    h.update(str(Path(litex.__file__).parent).encode())
    return h.hexdigest()[:16]


def _need(tool, package):
    if shutil.which(tool) is None:
        raise UserError(f"{tool} not found: install the Debian package {package} "
                        f"(scripts/setup.sh does)")


def build_sim(core_cfg: CoreConfig = None, root: Path | None = None,
              ethernet: bool = False, sdram: bool | None = None,
              cpu_variant: str = "standard") -> Path:
    """The built simulation's directory (its gateware/obj_dir/Vsim), built if needed.
    ``sdram`` (default: as ``ethernet``), ``cpu_variant``: boards/sim.py ``sim_soc``."""
    from litex.soc.integration.builder import Builder
    from litex.soc.integration.common import get_mem_data

    from catsnn.boards.sim import EXTRA_MODULES, SIM_MODULES, sim_config, sim_soc
    core_cfg = core_cfg or CoreConfig.compact(16)
    root = Path(root or paths.build_root()) / "sim"
    sdram = ethernet if sdram is None else sdram
    shape = ("-eth" if ethernet else "") + ("-sdram" if sdram and not ethernet else "") + \
        ("" if cpu_variant == "standard" else f"-{cpu_variant}")
    out = root / f"soc-{core_cfg.pe}pe{shape}-{source_hash(core_cfg)}"
    binary = out / "gateware" / "obj_dir" / "Vsim"
    if binary.exists():
        return out
    _need("verilator", "verilator")
    b = SocBuild(out, core_cfg, "sim")
    if ethernet:
        os.environ["PATH"] = f"{_sudo_shim(out)}{os.pathsep}{os.environ['PATH']}"

    def headers():
        soc = sim_soc(core_cfg, ethernet=ethernet, sdram=sdram, cpu_variant=cpu_variant)
        builder = Builder(soc, output_dir=str(out), compile_software=True, compile_gateware=False)
        builder.build(sim_config=sim_config(1, ethernet=ethernet), build=False, run=False)

    def verilator(fw_bin):
        words = get_mem_data(str(fw_bin), data_width=32, endianness="little")
        soc = sim_soc(core_cfg, firmware=words, ethernet=ethernet, sdram=sdram,
                      cpu_variant=cpu_variant)
        builder = Builder(soc, output_dir=str(out), compile_software=False, compile_gateware=True)
        mods = out / "sim_modules"     # LiteX writes a variables.mak into it: use a copy
        shutil.copytree(SIM_MODULES, mods, dirs_exist_ok=True)
        builder.build(sim_config=sim_config(1, ethernet=ethernet), run=False, opt_level="O2", interactive=False,
                      jobs=os.cpu_count(), extra_mods=EXTRA_MODULES, extra_mods_path=str(mods))
        # LiteX compiles only when it also runs the simulation: compile here
        subprocess.run(["bash", "build_sim.sh"], cwd=out / "gateware", check=True, stdout=b.log,
                       stderr=subprocess.STDOUT)

    # LiteX logs while it builds the SoC object too: every step's output goes to the log
    b.step("headers", lambda: b.run_quiet(headers))
    fw_bin = b.step("firmware", b.firmware)
    b.step("verilator", lambda: b.run_quiet(lambda: verilator(fw_bin)))
    if not binary.exists():
        raise UserError(f"sim build produced no binary (log: {out / 'build.log'})")
    t_all = b.t0
    _log(f"built in {time.time() - t_all:.0f} s: {out}")
    return out


def _sudo_shim(out: Path) -> Path:
    """LiteX's build script for a simulation with Ethernet calls `sudo` (to run it; catsnn runs
    the binary itself): as root a shim that runs its arguments is enough."""
    shim = out / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (shim / "sudo").chmod(0o755)
    return shim


class SocBuild:
    """The steps every SoC target shares (simulation and boards): a build folder with one log,
    named and timed steps, LiteX's chatter kept in the log, the firmware compiled against the
    headers LiteX generated for this SoC."""

    def __init__(self, out: Path, core_cfg: CoreConfig, what: str):
        # LiteX's makefiles call `python3 -m litex...`: it must be this interpreter
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        for tool, pkg in (("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf"),
                          ("meson", "meson"), ("ninja", "ninja-build"), ("make", "make")):
            _need(tool, pkg)
        self.out, self.core_cfg, self.what = out, core_cfg, what
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        self.log = open(out / "build.log", "w")
        sys.stderr.flush()
        self.console = os.fdopen(os.dup(2), "w", buffering=1)
        self.t0 = time.time()
        self.times = {}
        print(f"{what}: building in {out} (tool output: {out / 'build.log'})",
              file=self.console, flush=True)

    def step(self, name, fn, heartbeat: float = 60.0):
        t0 = time.time()
        # to the console as it was when the build began: run_quiet points fd 2 at the log
        say = lambda m: print(f"{self.what}: {m}", file=self.console, flush=True)  # noqa: E731
        if self.console.isatty():       # a log or a pipe gets one line per step: its result
            say(f"[{name}] ...")
        done = threading.Event()

        def beat():  # long tool runs (nextpnr: minutes) show where they are
            while not done.wait(heartbeat):
                say(f"[{name}] {time.time() - t0:.0f} s: {self.last_log_line()[:90]}")
        threading.Thread(target=beat, daemon=True).start()
        try:
            r = fn()
        except (subprocess.CalledProcessError, OSError) as e:
            raise UserError(f"{self.what} build step {name!r} failed (log: "
                            f"{self.out / 'build.log'}): {e}") from None
        finally:
            done.set()
        self.times[name] = time.time() - t0
        say(f"[{name}] done in {self.times[name]:.0f} s")
        return r

    def last_log_line(self) -> str:
        try:
            with open(self.out / "build.log", "rb") as f:
                f.seek(max(0, f.seek(0, 2) - 2048))
                lines = f.read().decode(errors="replace").strip().splitlines()
            return " ".join(lines[-1].split()) if lines else ""
        except OSError:
            return ""

    def run_quiet(self, fn):
        """Run fn with stdout/stderr (also of its children) going to the build log; with
        CATSNN_VERBOSE=1 (`catsnn -v ...`) they stay on the console."""
        if os.environ.get("CATSNN_VERBOSE") == "1":
            return fn()
        sys.stdout.flush()
        sys.stderr.flush()
        old_out, old_err = os.dup(1), os.dup(2)
        os.dup2(self.log.fileno(), 1)
        os.dup2(self.log.fileno(), 2)
        from litex.soc.integration.soc import SoCError
        try:
            return fn()
        except SoCError:
            # LiteX logs its reason, then silences Python's stderr (sys.stderr = None)
            sys.stderr = sys.__stderr__
            self.log.flush()
            why = [line[6:].strip() for line in open(self.log.name, errors="replace")
                   if line.startswith("ERROR:")]
            raise UserError(f"LiteX refused the SoC: {' / '.join(why[-3:]) or '?'} (log: "
                            f"{self.log.name})") from None
        finally:
            sys.stdout.flush()
            os.dup2(old_out, 1)
            os.dup2(old_err, 2)
            os.close(old_out)
            os.close(old_err)

    def firmware(self) -> Path:
        fw = self.out / "firmware"
        fw.mkdir(exist_ok=True)
        (fw / "protocol.h").write_text(protocol.c_header())
        (fw / "core_regs.h").write_text(c_header(self.core_cfg))
        subprocess.run(["make", "-C", str(paths.package_dir("catsnn.firmware")),
                        f"BUILD_DIR={self.out}",
                        f"OUT={fw}"], check=True, stdout=self.log, stderr=subprocess.STDOUT)
        binary = fw / "firmware.bin"
        from catsnn.gateware.soc import ROM_SIZE
        if binary.stat().st_size > ROM_SIZE:
            raise UserError(f"firmware of {binary.stat().st_size} bytes does not fit the "
                            f"{ROM_SIZE}-byte ROM")
        return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int, pid: int | str = "self") -> bool:
    """Is a TCP socket listening on port in the network of process pid? (Linux:
    /proc/PID/net/tcp*, state 0A)"""
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _die_with_parent():
    """In the simulator's process, before exec: SIGTERM when the process that started it ends
    (however it ends), so a simulation never outlives its catsnn."""
    import ctypes
    import signal
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class SimulatedSoC:
    """A running simulation; a context manager that stops it on exit. The UART listens on
    ``bind`` (loopback by default), one client at a time. With ``ethernet`` the simulation runs
    in a private network namespace (its UART port is inside it too)."""

    def __init__(self, core_cfg: CoreConfig = None, port: int = 0, root=None,
                 bind: str = "127.0.0.1", ethernet: bool = False, sdram: bool | None = None,
                 cpu_variant: str = "standard"):
        from catsnn.boards.sim import HOST_IP, SOC_IP, sim_config
        self.net, self.proc, self.run_dir = None, None, None
        if ethernet:      # first: without the rights for it, fail before a minute of build
            from catsnn.host.netns import PrivateNetwork
            self.net = PrivateNetwork()
        try:
            self.dir = build_sim(core_cfg, root, ethernet, sdram, cpu_variant)
        except BaseException:
            self.stop()
            raise
        self.port = port or free_port()
        gw = self.dir / "gateware"
        # the simulator reads ./sim_config.js, ./modules/ and the memory images from its working
        # folder: one folder per port, so that simulations of one build run side by side
        run = gw / f"run-{self.port}"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        for f in [gw / "modules", *gw.glob("*.init")]:
            (run / f.name).symlink_to(f)
        (run / "sim_config.js").write_text(sim_config(self.port, bind, ethernet).get_json())
        self.run_dir = run
        self.log_path = gw / f"sim-{self.port}.log"
        try:
            if ethernet:
                with self.net.inside():
                    self._start(gw, run)
            else:
                self._start(gw, run)
            deadline = time.time() + 30
            while True:
                if self.proc.poll() is not None:
                    raise UserError(f"the simulation exited at start (log: {self.log_path})")
                if _listening(self.port, self.proc.pid):   # (a probe would be a client)
                    break
                if time.time() > deadline:
                    raise UserError("the simulation did not open its UART port in 30 s")
                time.sleep(0.2)
            if ethernet:
                self.soc_ip, self.host_ip = SOC_IP, HOST_IP
                self._wait_tap(deadline)
        except BaseException:
            self.stop()
            raise
        self.url = f"socket://{'127.0.0.1' if bind == '0.0.0.0' else bind}:{self.port}"

    def _start(self, gw, run):
        self.proc = subprocess.Popen([str(gw / "obj_dir" / "Vsim")], cwd=run,
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)

    def _wait_tap(self, deadline):
        """Until the TAP carries the host's address (the simulator makes it as it starts)."""
        while True:
            try:
                self.udp_socket().close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise UserError(f"the simulation exited at start (log: {self.log_path})")
                if time.time() > deadline:
                    raise UserError(f"the simulation's TAP did not come up in 30 s (log: "
                                    f"{self.log_path})") from None
                time.sleep(0.2)

    def name_network(self, name: str) -> None:
        """Name the simulation's network namespace (`ip netns exec NAME ...` joins it); the
        name goes when the simulation stops."""
        self.net.attach(name, self.proc.pid)

    def udp_socket(self) -> socket.socket:
        """A UDP socket of the host's TAP address, inside the simulation's namespace."""
        with self.net.inside():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((self.host_ip, 0))
            except OSError:
                s.close()
                raise
            return s

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.net is not None:
            self.net.close()
            self.net = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
