"""Export / load round trip of the model artifact, and one clear error for every kind of bad file."""
import json
import struct
import zlib

import pytest
import torch

from catsnn.artifact import ArtifactError, load_artifact, parse_artifact, save_artifact
from catsnn.cli import main as cli_main
from catsnn.training.export import artifact_from_model
from catsnn.training.net import CatNet

from helpers import random_artifact


def same(a, b):
    assert (a.T, a.frac_bits, a.acc_bits, a.classes, a.input_shape, a.name) == \
        (b.T, b.frac_bits, b.acc_bits, b.classes, b.input_shape, b.name)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert (la.kind, la.in_channels, la.out_channels, la.in_height, la.pool, la.fires, la.k) == \
            (lb.kind, lb.in_channels, lb.out_channels, lb.in_height, lb.pool, lb.fires, lb.k)
        assert torch.equal(la.codes, lb.codes) and torch.equal(la.bias, lb.bias)


def test_round_trip(tmp_path):
    art = random_artifact([4, "P", 6, "P"], T=8)
    art.name = "rt"
    same(art, load_artifact(save_artifact(art, tmp_path / "m.catsnn")))


def test_export_from_trained_form_round_trip(tmp_path):
    torch.manual_seed(0)
    net = CatNet([8, "P", 8, "P"], "cat_bn", T=6, num_classes=4, input_size=8)
    with torch.no_grad():
        for bn in net.bns:
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    art = artifact_from_model(net.folded(), classes=list("abcd"), name="t")
    assert art.T == 6 and art.input_shape == (3, 8, 8)
    same(art, load_artifact(save_artifact(art, tmp_path / "t.catsnn")))


def test_fold_preserves_the_network():
    torch.manual_seed(1)
    net = CatNet([8, "P", 8, "P"], "cat_bn", T=8, num_classes=4, input_size=8)
    with torch.no_grad():
        for bn in net.bns:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(0.0, 0.5)
    net.eval()
    folded = net.folded().eval()
    folded.quantize_weights = False
    x = torch.rand(16, 3, 8, 8)
    ya, acts_a = net(x, return_potentials_per_layer=True)
    yb, acts_b = folded(x, return_potentials_per_layer=True)
    # float rounding may flip a spike time right at a threshold, nothing more
    same_t = torch.cat([(a == b).flatten() for a, b in zip(acts_a, acts_b)]).float().mean()
    assert same_t > 0.99
    assert torch.allclose(ya, yb, atol=1e-3)


@pytest.fixture
def blob(tmp_path):
    art = random_artifact([4, "P", 6, "P"], T=8)
    return save_artifact(art, tmp_path / "m.catsnn").read_bytes()


def reseal(header: dict, blob: bytes) -> bytes:
    """A file with this header and the original payload, with a valid CRC."""
    (hlen,) = struct.unpack_from("<I", blob, 12)
    payload = blob[16 + hlen:-4]
    hb = json.dumps(header).encode()
    body = blob[:8] + struct.pack("<II", 1, len(hb)) + hb + payload
    return body + struct.pack("<I", zlib.crc32(body))


def header_of(blob):
    (hlen,) = struct.unpack_from("<I", blob, 12)
    return json.loads(blob[16:16 + hlen])


def edited(blob, fn):
    h = header_of(blob)
    fn(h)
    return reseal(h, blob)


BAD = {
    "truncated": (lambda b: b[:len(b) // 2], "truncated|CRC"),
    "tiny": (lambda b: b[:5], "truncated"),
    "magic": (lambda b: b"NOTAMODL" + b[8:], "bad magic"),
    "flipped byte": (lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:], "CRC-32 mismatch"),
    "version": (lambda b: (lambda body: body + struct.pack("<I", zlib.crc32(body)))(
        b[:8] + struct.pack("<I", 7) + b[12:-4]), "version 7"),
    "shape chain": (lambda b: edited(b, lambda h: h["layers"][1].update(in_channels=5)),
                    "layer 1 expects input 5x"),
    "F too small": (lambda b: edited(b, lambda h: h.update(frac_bits=3)),
                    "would truncate"),
    "W too small": (lambda b: edited(b, lambda h: h.update(acc_bits=8)), "can overflow"),
    "T": (lambda b: edited(b, lambda h: h.update(T=3)), "T=3 outside"),
    "missing field": (lambda b: edited(b, lambda h: h.pop("layers")), "header has no 'layers'"),
    "no firing": (lambda b: edited(b, lambda h: h.pop("firing")), "header has no 'firing'"),
    "no classes": (lambda b: edited(b, lambda h: h.pop("classes")), "header has no 'classes'"),
    "header version": (lambda b: edited(b, lambda h: h.update(version=2)),
                       "header version 2 differs from the file's format version 1"),
    "fc of height 2": (lambda b: edited(b, lambda h: h["layers"][-1].update(in_height=2)),
                       r"\(fc\): in_height and in_width must be 1"),
    "bias dtype": (lambda b: edited(b, lambda h: h["layers"][0]["bias"].update(dtype="<i4")),
                   "layer 0 bias: dtype '<i4', the format has '<i8'"),
    "bool for an int": (lambda b: edited(b, lambda h: h.update(T=True)),
                        "field 'T' is bool True, expected int"),
    "string for a bool": (lambda b: edited(b, lambda h: h["layers"][0].update(pool="no")),
                          "layer 0 field 'pool' is str"),
    "too few class names": (lambda b: edited(b, lambda h: h.update(classes=["a"])),
                            "1 class names for"),
    "extra payload": (lambda b: (lambda h: reseal(h, b[:-4] + b"\0\0\0\0" + b[-4:]))(
        header_of(b)), "the arrays take"),
    "last layer fires": (lambda b: edited(b, lambda h: h["layers"][-1].update(fires=True)),
                         "must not fire"),
    "payload range": (lambda b: edited(b, lambda h: h["layers"][-1]["bias"].update(shape=[10**6])),
                      "outside the payload"),
    "array gap": (lambda b: edited(b, lambda h: h["layers"][0]["bias"].update(offset=10**6)),
                  "at payload byte 1000000, expected"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_give_one_clear_error(case, blob, tmp_path, capsys):
    make, pattern = BAD[case]
    with pytest.raises(ArtifactError, match=pattern):
        parse_artifact(make(blob), "m.catsnn")
    path = tmp_path / "bad.catsnn"
    path.write_bytes(make(blob))
    assert cli_main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("catsnn: error: ") and str(path) in err[0]


def test_invalid_weight_code(blob):
    h = header_of(blob)
    off = h["layers"][0]["weights"]["offset"]
    (hlen,) = struct.unpack_from("<I", blob, 12)
    body = bytearray(blob[:-4])
    body[16 + hlen + off] = 31  # sign bit with the zero code: not canonical
    body = bytes(body)
    with pytest.raises(ArtifactError, match="invalid 5-bit weight codes"):
        parse_artifact(body + struct.pack("<I", zlib.crc32(body)))


def test_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="no such model file"):
        load_artifact(tmp_path / "nope.catsnn")


def test_xz_compressed_artifact_loads_the_same(tmp_path):
    import lzma
    art = random_artifact([4, "P", 6, "P"], T=8)
    path = save_artifact(art, tmp_path / "m.catsnn")
    packed = tmp_path / "m.catsnn.xz"
    packed.write_bytes(lzma.compress(path.read_bytes()))
    same(load_artifact(packed), art)
    packed.write_bytes(lzma.compress(path.read_bytes())[:-40])  # truncated compression
    with pytest.raises(ArtifactError, match="m.catsnn.xz: corrupt xz compression"):
        load_artifact(packed)
