"""Rate, phase and burst coding (docs/numerics.md, "Other neural codings"): the vectorised
reference equals the scalar transcription of the text on random small networks, every layer's
totals, the potentials and the event counts as integers; the artifact carries the coding."""
import dataclasses

import pytest
import torch

from catsnn.artifact import ArtifactError, load_artifact, parse_artifact, save_artifact
from catsnn.artifact import required_acc_bits, required_frac_bits_of
from catsnn.codings import Coding
from catsnn.reference import coded_snn
from catsnn.reference.coded_snn import CodedSNN

import spec_codings
from helpers import random_artifact, random_images


def coded(art, coding: Coding, T: int):
    """The artifact with another coding and window, F and W recomputed by their rules."""
    art = dataclasses.replace(art, coding=coding, T=T)
    art.frac_bits = required_frac_bits_of(art)
    art.acc_bits = required_acc_bits(art)
    return art


CASES = {
    "rate_T5": (Coding("rate"), 5, dict(spec=[3, "P", 4], size=4)),
    "rate_T8_bias_up": (Coding("rate"), 8, dict(spec=[4, "P"], size=4, bias_offset=0.6)),
    "phase_K4_T8": (Coding("phase", period=4), 8, dict(spec=[3, "P", 3], size=4)),
    "phase_K8_T8": (Coding("phase", period=8), 8, dict(spec=[4, 3], size=4, bias_offset=0.3)),
    "phase_K10_T10": (Coding("phase", period=10), 10, dict(spec=[3, "P"], size=4)),
    "burst_B2_T6": (Coding("burst", max_burst=2), 6, dict(spec=[3, "P", 4], size=4,
                                                           bias_offset=0.8)),
    "burst_B0_T4": (Coding("burst", max_burst=0), 4, dict(spec=[4], size=4, bias_offset=0.5)),
}


def case_artifact(case):
    """The random network of a case in its coding and window, and its image size."""
    coding, T, kw = CASES[case]
    base = random_artifact(**kw, T=8, classes=3, seed=sorted(CASES).index(case),
                           positive_only=False)
    return coded(base, coding, T), kw["size"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_equals_the_scalar_transcription(case):
    art, size = case_artifact(case)
    images = random_images(2, size=size, seed=5)
    r = CodedSNN(art).run(images)
    fired_somewhere = 0
    for n in range(2):
        totals, pots, counts = spec_codings.run(art, images[n].tolist())
        for li, want in enumerate(totals):
            got = r.totals[li][n].tolist()
            assert got == want, f"image {n} layer {li}: totals differ"
            fired_somewhere += sum(v for ch in want for row in ch for v in row)
        assert r.potentials[n].tolist() == pots, f"image {n}: potentials"
        assert r.input_events[n].tolist() == [e for e, _ in counts], f"image {n}: events"
        assert r.output_spikes[n].tolist() == [s for _, s in counts], f"image {n}: spikes"
    assert fired_somewhere > 0          # a case where nothing fires would test little


@pytest.mark.parametrize("step_batch", [3, 16])
@pytest.mark.parametrize("case", ["rate_T5", "phase_K4_T8", "burst_B2_T6"])
def test_blocking_and_integer_widths_do_not_change_the_result(case, step_batch, monkeypatch):
    """The same integers with one image per neuron block, tiny convolution batches (16: runs
    of 2-3 images, several neuron blocks each; 3: one image per run, its drive split in
    parts) and int64 everywhere, as with the defaults."""
    art, size = case_artifact(case)
    images = random_images(5, size=size, seed=6)
    want = CodedSNN(art).run(images)
    monkeypatch.setattr(coded_snn, "NEURON_BLOCK", 1)
    monkeypatch.setattr(coded_snn, "STEP_BATCH", step_batch)
    snn = CodedSNN(art)
    snn.dtype = snn.v_dtype = torch.int64
    got = snn.run(images)
    for li, (a, b) in enumerate(zip(got.totals, want.totals)):
        assert torch.equal(a, b), f"layer {li}: totals differ"
    for f in ("potentials", "input_events", "sops", "output_spikes"):
        assert torch.equal(getattr(got, f), getattr(want, f)), f


def test_an_all_zero_input_keeps_rate_neurons_at_their_bias():
    """A hand check of the text: no input, bias 1/4 per step, V0 = 1/2: a rate neuron fires at
    steps 1 and 5 of T = 8 (V: 0.75, 1.0 -> 0, 0.25, 0.5, 0.75, 1.0 -> 0, 0.25, 0.5)."""
    art = random_artifact([1], T=8, size=2, classes=1, seed=1)
    art = coded(art, Coding("rate"), 8)
    art.layers[0].bias.fill_(0)
    F = art.frac_bits
    art.layers[0].bias[0] = 1 << (F - 2)
    r = CodedSNN(art).run(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))
    b = art.layers[0].bias[0].item()
    fires, v = [], 1 << (F - 1)
    for t in range(8):
        v += b
        if v >= 1 << F:
            v -= 1 << F
            fires.append(t)
    assert fires == [1, 5]
    assert r.totals[0][0, 0].flatten().tolist() == [2, 2, 2, 2]


def test_the_artifact_round_trips_the_coding_and_refuses_a_wrong_one(tmp_path):
    base = random_artifact([3, "P"], T=8, size=4, classes=3, seed=2)
    for coding, T in [(Coding("rate"), 32), (Coding("phase", period=8), 16),
                      (Coding("burst", max_burst=3), 12)]:
        art = coded(base, coding, T)
        back = load_artifact(save_artifact(art, tmp_path / "m.catsnn"))
        assert back.coding == coding and back.T == T
    # log-TTFS artifacts carry no coding object: the format is unchanged for them
    save_artifact(base, tmp_path / "l.catsnn")
    assert b'"coding"' not in (tmp_path / "l.catsnn").read_bytes()
    blob = bytearray((tmp_path / "m.catsnn").read_bytes())

    def with_header(old: bytes, new: bytes):
        import struct
        import zlib
        hlen = struct.unpack_from("<I", blob, 12)[0]
        head = bytes(blob[16:16 + hlen]).replace(old, new)
        body = bytes(blob[:12]) + struct.pack("<I", len(head)) + head + bytes(blob[16 + hlen:-4])
        return body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(ArtifactError, match="coding 'bursty' unknown"):
        parse_artifact(with_header(b'"name": "burst"', b'"name": "bursty"'))
    with pytest.raises(ArtifactError, match="needs an integer 'max_burst'"):
        parse_artifact(with_header(b'"max_burst": 3', b'"max_burst": "3"'))
    with pytest.raises(ArtifactError, match="B=11 outside 0..10"):
        parse_artifact(with_header(b'"max_burst": 3', b'"max_burst": 11'))
    art = coded(base, Coding("phase", period=8), 16)
    art.T = 12
    with pytest.raises(ArtifactError, match="T=12 is not a multiple of the period K=8"):
        save_artifact(art, tmp_path / "bad.catsnn")
    art = coded(base, Coding("phase", period=8), 16)
    art.frac_bits -= 1
    with pytest.raises(ArtifactError, match="would truncate"):
        save_artifact(art, tmp_path / "bad.catsnn")


def test_the_cat_activations_have_the_codings_levels():
    from catsnn.training.cat_layers import coded_activation, coded_levels
    z = torch.tensor([-1.0, 0.0, 0.1, 0.3, 0.9, 2.0, 10.0])
    # rate, T = 4: totals clip(floor(4 z + 1/2), 0, 4), activation total / 4
    assert coded_activation(z, Coding("rate"), 4).tolist() == [0, 0, 0, 0.25, 1, 1, 1]
    # phase, K = 2, T = 4 (2 periods): s = 8, M = 2 x 3 = 6
    assert coded_levels(Coding("phase", period=2), 4) == (8, 6)
    assert coded_activation(z, Coding("phase", period=2), 4).tolist() == \
        [0, 0, 0.125, 0.25, 0.75, 0.75, 0.75]
    # burst, B = 1, T = 3: at most 1 + 2 + 2 = 5 in the window
    assert coded_levels(Coding("burst", max_burst=1), 3) == (3, 5)
    assert coded_activation(z.double(), Coding("burst", max_burst=1), 3)[-1].item() == 5 / 3
    # the straight-through gradient ends at the clip
    x = z.clone().requires_grad_(True)
    coded_activation(x, Coding("rate"), 4).sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0, 0]


def test_train_convert_and_evaluate_a_rate_coded_model(tmp_path, capsys, data, shipped_model):
    """catsnn train --coding rate (a few steps from the float baseline) exports an artifact
    that names its coding; the reference runs it; --backend ann --check measures the twin
    (exit 0: not exact by construction); catsnn convert makes the plain-conversion baseline;
    the core refuses a coded model in one line, and so does a window the coding cannot have."""
    import json
    from catsnn.cli import main as cli_main
    float_pt = shipped_model.parent / "compact-float-baseline" / "final.pt"
    out = tmp_path / "run"
    assert cli_main(["train", "--coding", "rate", "--T", "6", "--data", data, "--out", str(out),
                     "--subset", "200", "--batch", "100", "--epochs", "1", "--quant-epochs", "1",
                     "--init", str(float_pt), "--eval-every", "1", "--threads", "2"]) == 0
    art = load_artifact(out / "model.catsnn")
    assert art.coding == Coding("rate") and art.T == 6
    capsys.readouterr()
    assert cli_main(["eval", str(out / "model.catsnn"), "--backend", "ann", "--check",
                     "--data", data, "--limit", "10", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["coding"] == {"name": "rate"} and len(r["layer_differences"]) == 6
    assert 0 <= r["class_agreement"] <= 1
    conv = tmp_path / "conv.catsnn"
    assert cli_main(["convert", str(float_pt), "--coding", "phase", "--T", "8", "--period", "8",
                     "--images", "200", "--data", data, "--out", str(conv)]) == 0
    c = load_artifact(conv)
    assert c.coding == Coding("phase", period=8) and len(c.meta["conversion"]["lambdas"]) == 6
    assert cli_main(["eval", str(conv), "--data", data, "--limit", "5", "--quiet"]) == 0
    capsys.readouterr()
    assert cli_main(["eval", str(conv), "--backend", "core", "--data", data,
                     "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs log-TTFS models only" in err[0], err
    assert cli_main(["convert", str(float_pt), "--coding", "phase", "--T", "12", "--period",
                     "8", "--data", data, "--out", str(conv)]) == 2
    assert "not a multiple of the period" in capsys.readouterr().err
    assert cli_main(["convert", str(shipped_model.parent / "compact-cifar10" / "cat_bn-end.pt"),
                     "--coding", "rate", "--T", "8", "--data", data, "--out", str(conv)]) == 2
    assert "conversion starts from a float ReLU one" in capsys.readouterr().err
