"""The shipped compact model: a valid artifact inside the weight budget, CAT lossless on real
CIFAR-10 test images (ANN == reference in every layer), and the eval command's contract."""
import json
from pathlib import Path

from catsnn.artifact import load_artifact
from catsnn.cli import main as cli_main

from test_data import DATA

MODEL = Path(__file__).resolve().parents[1] / "models" / "compact-cifar10.catsnn"


def test_shipped_model_is_valid_and_fits_the_budget():
    art = load_artifact(MODEL)
    assert art.T == 8 and art.firing == "floor"
    assert art.num_weights * 5 <= 1.5 * 2 ** 20  # 1.5 Mibit of 5-bit weights
    assert art.acc_bits <= 40 and art.frac_bits <= 32
    assert len(art.classes) == 10


def eval_json(capsys, *args):
    rc = cli_main(["eval", str(MODEL), "--data", DATA, "--json", "--quiet", *args])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return rc, json.loads(out[0])


def test_ann_equals_reference_on_real_images(capsys):
    rc, r = eval_json(capsys, "--backend", "ann", "--check", "--offset", "1000", "--limit", "300")
    assert rc == 0 and r["mismatches"] == 0 and r["first_mismatch"] is None
    assert r["images"] == 300 and r["offset"] == 1000
    assert r["top1"] > 0.8  # a trained network, not a stub


def test_reference_json_fields(capsys):
    rc, r = eval_json(capsys, "--backend", "reference", "--limit", "100")
    assert rc == 0
    assert {"images", "top1", "images_per_s", "sops_per_image"} <= set(r)
    assert r["images"] == 100 and r["images_per_s"] > 0 and r["sops_per_image"] > 1e5


def test_eval_bad_arguments_are_one_line_errors(capsys, tmp_path):
    assert cli_main(["eval", str(MODEL), "--data", DATA, "--offset", "10000"]) == 2
    assert "outside the 10000 test images" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "x.catsnn"), "--data", DATA]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert cli_main(["eval", str(MODEL), "--data", str(tmp_path)]) == 2
    assert "no cifar10 data found" in capsys.readouterr().err
