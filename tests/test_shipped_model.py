"""The shipped compact model: a valid artifact inside the weight budget, CAT lossless on real
CIFAR-10 test images (ANN == reference in every layer), and the eval command's contract."""
import json

import pytest
from pathlib import Path

from catsnn.artifact import load_artifact
from catsnn.cli import main as cli_main


def test_shipped_model_is_valid_and_fits_the_budget(shipped_model):
    art = load_artifact(shipped_model)
    assert art.T == 8 and art.firing == "floor"
    assert art.num_weights * 5 <= 1.5 * 2 ** 20  # 1.5 Mibit of 5-bit weights
    assert art.acc_bits <= 40 and art.frac_bits <= 32
    assert len(art.classes) == 10


@pytest.fixture
def eval_json(capsys, shipped_model, data):
    """Run `catsnn eval` on the shipped model with --json: (exit status, the object)."""
    def run(*args):
        rc = cli_main(["eval", str(shipped_model), "--data", data, "--json", "--quiet", *args])
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1
        return rc, json.loads(out[0])
    return run


def test_ann_equals_reference_on_real_images(eval_json):
    rc, r = eval_json("--backend", "ann", "--check", "--offset", "1000", "--limit", "300")
    assert rc == 0 and r["mismatches"] == 0 and r["first_mismatch"] is None
    assert r["images"] == 300 and r["offset"] == 1000
    assert r["top1"] > 0.8  # a trained network, not a stub


def test_reference_json_fields(eval_json):
    rc, r = eval_json("--backend", "reference", "--limit", "100")
    assert rc == 0
    assert {"images", "top1", "images_per_s", "sops_per_image"} <= set(r)
    assert r["images"] == 100 and r["images_per_s"] > 0 and r["sops_per_image"] > 1e5


def test_eval_bad_arguments_are_one_line_errors(capsys, tmp_path, data, shipped_model):
    assert cli_main(["eval", str(shipped_model), "--data", data, "--offset", "10000"]) == 2
    assert "outside the 10000 test images" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "x.catsnn"), "--data", data]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert cli_main(["eval", str(shipped_model), "--data", str(tmp_path)]) == 2
    assert "no cifar10 data found" in capsys.readouterr().err
