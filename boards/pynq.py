"""PYNQ boards (Zynq-7020): the core in the programmable logic behind AXI-Lite, driven from Python
on the board's ARM (host/pynq_device.py).

No open place-and-route for Xilinx 7-series installs here, so ``catsnn build --board pynq_z2``
writes what a user needs to make the bitstream where Vivado is installed: the core's Verilog
with its AXI-Lite wrapper (gateware/axi_core.py) and a Vivado batch script (block design: the
Zynq PS with M_AXI_GP0 and a 50 MHz FCLK0, the wrapper as a module reference, an AXI
interconnect, the address map), which writes ``catsnn.bit`` and ``catsnn.hwh`` for
``pynq.Overlay``. With ``vivado`` on PATH the build runs it; without, it says so in one line.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from catsnn import paths
from catsnn.errors import UserError
from catsnn.gateware.axi_core import TOP, axi_core_verilog, window_bytes
from catsnn.gateware.core_config import CoreConfig

# board -> (part, Vivado board part, used when its board files are installed)
BOARDS = {
    "pynq_z2": ("xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0"),
    "pynq_z1": ("xc7z020clg400-1", "www.digilentinc.com:pynq-z1:part0:1.0"),
}
BASE_ADDRESS = 0x4000_0000     # the start of M_AXI_GP0's range
FCLK_MHZ = 50
CELL = "catsnn_0"              # host/pynq_device.py finds the core by this name in the .hwh
DEFAULT_PE = 16


def vivado_tcl(board: str, cfg: CoreConfig) -> str:
    part, board_part = BOARDS[board]
    rng = window_bytes(cfg)
    return f"""# catsnn on {board}: Vivado batch script (catsnn build --board {board}; do not edit)
#   vivado -mode batch -source build.tcl      (in this folder)
# writes catsnn.bit and catsnn.hwh: copy both to the board, then
#   catsnn eval MODEL --backend device --port pynq:catsnn.bit --check
set here [file dirname [file normalize [info script]]]
create_project -force catsnn $here/vivado -part {part}
if {{[llength [get_board_parts -quiet {board_part}]]}} {{
  set_property board_part {board_part} [current_project]
  set preset 1
}} else {{
  puts "catsnn: board files for {board_part} not installed: the PS keeps Vivado's defaults \\
(PYNQ's boot image configures the PS; the overlay sets the PL clock)"
  set preset 0
}}
add_files -norecurse $here/{TOP}.v
update_compile_order -fileset sources_1
create_bd_design catsnn
create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps7
if {{$preset}} {{
  apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \\
    -config {{make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"}} [get_bd_cells ps7]
}} else {{
  apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \\
    -config {{make_external "FIXED_IO, DDR" apply_board_preset "0" Master "Disable" Slave "Disable"}} [get_bd_cells ps7]
}}
set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {{1}} CONFIG.PCW_EN_CLK0_PORT {{1}} \\
  CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{FCLK_MHZ}}} CONFIG.PCW_EN_RST0_PORT {{1}}] [get_bd_cells ps7]
create_bd_cell -type module -reference {TOP} {CELL}
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \\
  -config {{Master "/ps7/M_AXI_GP0" Clk "/ps7/FCLK_CLK0 ({FCLK_MHZ} MHz)"}} [get_bd_intf_pins {CELL}/s_axi]
# the core's window: {rng // 1024} KiB at {BASE_ADDRESS:#010x}
assign_bd_address -force -offset {BASE_ADDRESS:#010x} -range {rng // 1024}K \
  -target_address_space [get_bd_addr_spaces ps7/Data] [get_bd_addr_segs {CELL}/s_axi/reg0]
validate_bd_design
save_bd_design
make_wrapper -files [get_files catsnn.bd] -top
add_files -norecurse [glob $here/vivado/catsnn.gen/sources_1/bd/catsnn/hdl/catsnn_wrapper.v]
set_property top catsnn_wrapper [current_fileset]
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] != "100%"}} {{
  puts "catsnn: implementation failed"
  exit 1
}}
file copy -force [glob $here/vivado/catsnn.runs/impl_1/*.bit] $here/catsnn.bit
file copy -force [glob $here/vivado/catsnn.gen/sources_1/bd/catsnn/hw_handoff/catsnn.hwh] $here/catsnn.hwh
report_timing_summary -file $here/timing.rpt
report_utilization -file $here/utilization.rpt
puts "catsnn: wrote $here/catsnn.bit and $here/catsnn.hwh"
"""


def build_pynq(board: str, pe: int | None = None, root=None) -> dict:
    """Write the Verilog and the Vivado script into build/boards/<board>-<hash>/; run Vivado if
    it is on PATH. Returns the report (also written as report.json)."""
    if board not in BOARDS:
        raise UserError(f"unknown PYNQ board {board!r}; boards: {', '.join(sorted(BOARDS))}")
    cfg = CoreConfig.compact(pe or DEFAULT_PE)
    verilog = axi_core_verilog(cfg)
    tcl = vivado_tcl(board, cfg)
    key = hashlib.sha256((verilog + tcl).encode()).hexdigest()[:16]
    out = Path(root or paths.build_root()) / "boards" / f"{board}-{cfg.pe}pe-{key}"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{TOP}.v").write_text(verilog)
    (out / "build.tcl").write_text(tcl)
    report = {"board": board, "device": BOARDS[board][0], "pe": cfg.pe, "core": cfg.summary(),
              "verilog": str(out / f"{TOP}.v"), "vivado_script": str(out / "build.tcl"),
              "base_address": BASE_ADDRESS, "window_bytes": window_bytes(cfg),
              "fclk_mhz": FCLK_MHZ, "bitstream": None}
    vivado = shutil.which("vivado")
    if vivado is None:
        report["next"] = (f"Vivado is needed for the bitstream and is not on PATH here: where "
                          f"it is installed, run `vivado -mode batch -source build.tcl` in "
                          f"{out}, then copy catsnn.bit and catsnn.hwh to the board")
    else:
        t0 = time.time()
        with open(out / "vivado.log", "w") as log:
            r = subprocess.run([vivado, "-mode", "batch", "-source", "build.tcl"], cwd=out,
                               stdout=log, stderr=subprocess.STDOUT)
        report["build_s"] = round(time.time() - t0)
        if r.returncode != 0 or not (out / "catsnn.bit").exists():
            raise UserError(f"{board}: Vivado failed (log: {out / 'vivado.log'})")
        report["bitstream"] = str(out / "catsnn.bit")
        report["next"] = "copy catsnn.bit and catsnn.hwh to the board"
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report
