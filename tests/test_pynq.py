"""The PYNQ target without a board: the core behind its AXI-Lite wrapper under Verilator stands
in for pynq.MMIO; the wrapper's Verilog lints; the Vivado script holds the address map."""
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from catsnn.artifact import load_artifact
from catsnn.boards import pynq
from catsnn.data import load_split
from catsnn.errors import UserError
from catsnn.gateware.axi_core import TOP, axi_core_verilog, window_bytes
from catsnn.gateware.core_config import CoreConfig
from catsnn.host.device import open_device
from catsnn.host.driver import CoreDriver
from catsnn.host.pynq_device import PynqDevice
from catsnn.reference.snn import ReferenceSNN

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pynq_device_is_bit_exact_through_the_axi_lite_window(shipped_model, data):
    from catsnn.gateware.verilator_core import AxiSim
    art = load_artifact(shipped_model)
    dev = PynqDevice(AxiSim(CoreConfig.compact(16)), "PYNQ (Verilator AXI-Lite)")
    drv = CoreDriver(dev, art)
    x = load_split(data, train=False).images[:20]
    ref = ReferenceSNN(art).run(x)
    for i in range(len(x)):
        r = drv.run_image(x[i], with_maps=True)
        for li, (want, got) in enumerate(zip(ref.spike_times, r.spike_times)):
            assert (want[i].numpy() == got).all(), f"image {i} layer {li}"
        assert r.potentials.tolist() == ref.potentials[i].tolist(), f"image {i} potentials"
        assert r.counters["sops"] == ref.sops[i].tolist(), f"image {i} SOPs"


def test_the_wrapper_verilog_lints(tmp_path):
    """Clean under Verilator's lint but for the three warnings every Migen design gives (width
    extension in its arithmetic, non-blocking assignments in its combinational and initial
    blocks)."""
    v = tmp_path / f"{TOP}.v"
    v.write_text(axi_core_verilog(CoreConfig.compact(16)))
    r = subprocess.run(["verilator", "--lint-only", "-Wno-WIDTH", "-Wno-COMBDLY",
                        "-Wno-INITIALDLY", str(v), "--top-module", TOP],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-2000:]
    ports = re.search(r"module catsnn_axi\((.*?)\);", v.read_text(), re.S).group(1)
    for name in ("s_axi_aclk", "s_axi_aresetn", "s_axi_awaddr", "s_axi_wdata", "s_axi_bresp",
                 "s_axi_araddr", "s_axi_rdata", "s_axi_rready"):
        assert name in ports


def test_build_writes_the_sources_and_says_vivado_is_needed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CATSNN_BUILD", str(tmp_path))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")            # no vivado
    assert shutil.which("vivado") is None
    from catsnn.cli import main
    assert main(["build", "--board", "pynq_z2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["bitstream"] is None and r["next"].startswith("Vivado is needed")
    tcl = Path(r["vivado_script"]).read_text()
    cfg = CoreConfig.compact(16)
    assert window_bytes(cfg) == 4 << 20
    assert "-part xc7z020clg400-1" in tcl
    assert (f"assign_bd_address -force -offset 0x40000000 -range {window_bytes(cfg) // 1024}K"
            in tcl)
    assert f"get_bd_addr_segs {pynq.CELL}/s_axi/reg0" in tcl
    assert f"create_bd_cell -type module -reference {TOP} {pynq.CELL}" in tcl
    assert "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {50}" in tcl and "M_AXI_GP0" in tcl
    assert Path(r["verilog"]).read_text().startswith("/* Machine-generated using Migen */")
    assert main(["build", "--board", "pynq_z2"]) == 0
    assert "Vivado is needed" in capsys.readouterr().out


def test_without_pynq_the_port_is_one_clear_error():
    with pytest.raises(UserError, match=r"needs the pynq package"):
        open_device("pynq:catsnn.bit")


def test_pynq_is_an_extra_not_a_dependency():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pynq") for d in meta["dependencies"])
    assert meta["optional-dependencies"]["pynq"] == ["pynq==3.0.1"]
