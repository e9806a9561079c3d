"""The board path without torch (a PYNQ-Z1/Z2's ARM has no torch): `catsnn bundle` compiles on
the host; the board folder it writes runs with numpy and its own copy of the torch-free modules,
bit-exact against the reference's answers stored in the bundle."""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catsnn.gateware.core_config import NO_SPIKE as CORE_NO_SPIKE, CoreConfig
from catsnn.gateware.placement import CompiledModel, compile_model
from catsnn.host.board_bundle import (BOARD_MODULES, BUNDLE_NAME, Bundle, BundleError,
                                      load_bundle, write_bundle)
from catsnn.host.board_run import main as board_main, run_bundle
from catsnn.host.driver import CoreDriver, DeviceRunError
from catsnn.numerics import NO_SPIKE

HERE = Path(__file__).resolve().parent


def make_bundle(tmp_path, shipped_model, data, n=3):
    from catsnn.cli import main
    assert main(["bundle", str(shipped_model), "--out", str(tmp_path), "--limit", str(n),
                 "--data", data]) == 0
    return tmp_path / BUNDLE_NAME


def test_the_core_and_numerics_agree_on_no_spike():
    assert CORE_NO_SPIKE == NO_SPIKE


def test_a_bundle_round_trips_and_a_difference_is_reported_where_it_is(tmp_path, shipped_model,
                                                                      data, core16):
    path = make_bundle(tmp_path, shipped_model, data)
    b = load_bundle(path)
    r = run_bundle(core16, b, progress=False)
    assert r["images"] == 3 and r["mismatches"] == 0 and r["reference_classes_equal"]
    # one spike time changed in the stored answers: that image, layer and position are named
    layer = [i for i, p in enumerate(b.compiled.plans) if p.fires][1]
    m = b.want_maps[1]
    m[2, 5, 3, 4] = 0 if m[2, 5, 3, 4] != 0 else 1
    r = run_bundle(core16, b, progress=False)
    assert r["mismatches"] == 1
    assert r["mismatched_images"][0]["image"] == 2
    assert r["mismatched_images"][0]["first_difference"].startswith(
        f"layer {layer} channel 5 position (3, 4)")
    b = load_bundle(path)                       # the answers as written
    b.want_potentials[0, 7] += 1
    r = run_bundle(core16, b, progress=False)
    assert r["mismatched_images"][0]["first_difference"].startswith("potential of class 7")


def test_bad_bundles_are_one_clear_error(tmp_path, shipped_model, data, capsys):
    path = make_bundle(tmp_path, shipped_model, data)
    good = load_bundle(path)
    for name, content in [("text.npz", b"not a bundle"),
                          ("cut.npz", path.read_bytes()[:1000])]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BundleError, match=f"{name}: not a catsnn bundle"):
            load_bundle(tmp_path / name)
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "missing.npz")
    # wrong shapes: fewer labels than images
    bad = Bundle(**{**good.__dict__, "labels": good.labels[:1]})
    write_bundle(tmp_path / "short.npz", bad)
    with pytest.raises(BundleError, match="wrong shape: labels"):
        load_bundle(tmp_path / "short.npz")
    # another format version
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]))
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "version": 9}).encode(), np.uint8)
    with open(tmp_path / "v9.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(BundleError, match="version 9, this reader takes 'catsnn-bundle' 1"):
        load_bundle(tmp_path / "v9.npz")
    # the command line: one line, status 2
    capsys.readouterr()
    assert board_main([str(tmp_path / "text.npz"), "--port", "core", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "text.npz" in err[0]


def test_a_model_compiled_for_another_core_is_refused(core16, shipped_model):
    from catsnn.artifact import load_artifact
    other = compile_model(load_artifact(shipped_model), CoreConfig.compact(8))
    with pytest.raises(DeviceRunError, match="compiled for the core P=8"):
        CoreDriver(core16, other)


def test_the_board_modules_are_torch_free_python_3_10(tmp_path):
    """PYNQ v3.0 images run Python 3.10: the copied modules parse as 3.10 and import no torch
    (their imports are checked for real by the board-folder test)."""
    import importlib.util
    for name in BOARD_MODULES:
        src = Path(importlib.util.find_spec(name).origin).read_text()
        ast.parse(src, feature_version=(3, 10))
        assert "import torch" not in src, name


@pytest.mark.slow
def test_a_board_folder_runs_without_torch_bit_exact(tmp_path, shipped_model, data):
    """20 images, every layer, through the PYNQ device and the AXI-Lite wrapper under
    Verilator; the board folder's Python has no torch and no catsnn but the folder's own."""
    from catsnn.gateware.axi_core import window_bytes
    from catsnn.gateware.verilator_core import AxiSim
    folder = tmp_path / "board"
    make_bundle(folder, shipped_model, data, n=20)
    (folder / "catsnn.bit").write_bytes(b"bitstream")
    (folder / "catsnn.hwh").write_text("<hwh/>")
    cfg = CoreConfig.compact(16)
    lib = AxiSim(cfg).lib._name                     # builds (or finds) the Verilated wrapper
    numpy_site = str(Path(np.__file__).resolve().parents[1])
    script = f"""
import json, sys
sys.path[:0] = [{str(folder)!r}, {str(HERE / "fake_pynq")!r}, {numpy_site!r}]
sys.modules["torch"] = None                         # any import of torch fails
from catsnn.host.board_run import main
rc = main(["catsnn-bundle.npz", "--port", "pynq:catsnn.bit", "--json", "--quiet"])
outside = [m.__file__ for n, m in sys.modules.items()
           if n.startswith("catsnn") and not m.__file__.startswith({str(folder)!r})]
print(json.dumps({{"rc": rc, "outside": outside}}))
"""
    env = {"PATH": os.environ["PATH"], "CATSNN_FAKE_PYNQ_LIB": lib,
           "CATSNN_FAKE_PYNQ_RANGE": str(window_bytes(cfg))}
    p = subprocess.run([sys.executable, "-S", "-c", script], cwd=folder, env=env,
                       capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    report, tail = (json.loads(line) for line in p.stdout.strip().splitlines()[-2:])
    assert tail == {"rc": 0, "outside": []}
    b = load_bundle(folder / BUNDLE_NAME)
    assert report["images"] == 20 and report["checked"] and report["mismatches"] == 0
    assert report["reference_classes_equal"]
    assert report["correct"] == int((b.want_potentials.argmax(1) == b.labels).sum())
    assert report["device"].startswith("PYNQ overlay catsnn.bit")
