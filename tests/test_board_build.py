"""`catsnn build` without running the FPGA tools: argument errors and the report parser."""
import pytest

from catsnn.errors import UserError
from catsnn.host.board_build import build_board, parse_nextpnr

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
