"""The model artifact: the one file every stage after training reads.

Binary layout (all integers little-endian), version 1::

    0   8 bytes   magic b"CATSNNMD"
    8   u32       format version (1)
    12  u32       header length H
    16  H bytes   header: UTF-8 JSON (network description, see docs/artifact.md)
    16+H ...      payload: the arrays the header points at (weight codes u8, biases i64)
    end-4 u32     CRC-32 (zlib) of every byte before it

``load_artifact`` validates everything (framing, CRC, JSON, the layer chain, shapes, code values,
and that F and the accumulator width are enough for the weights) and raises ``ArtifactError``
with one message naming what is wrong.
"""
from __future__ import annotations

import json
import lzma
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from catsnn.codings import Coding, CodingError
from catsnn.numerics import (PIXEL_FRAC_BITS, T_MAX, T_MIN, WEIGHT_EXP_MAX, WEIGHT_SIGN_BIT,
                             WEIGHT_ZERO_EXP, decode_weight_codes, required_frac_bits)

MAGIC = b"CATSNNMD"
VERSION = 1
MAX_ACC_BITS = 53  # the reference computes through float64 convolutions: exact below 2^53
FIRING_RULES = ("floor",)


class ArtifactError(Exception):
    """A model artifact that cannot be used; the message says which file and what is wrong."""


@dataclass
class Layer:
    kind: str                 # "conv3x3" or "fc"
    in_channels: int          # fc: in_features
    out_channels: int         # fc: out_features
    in_height: int            # fc: 1
    in_width: int             # fc: 1
    pool: bool                # fused 2x2 max pooling after firing (conv only)
    fires: bool               # False only for the last layer (its output is potentials)
    k: int                    # weight exponent offset: magnitude of code c is 2^-(c+k)
    codes: torch.Tensor       # uint8, conv: (out, in, 3, 3); fc: (out, in)
    bias: torch.Tensor        # int64 (out,), units of 2^-F

    @property
    def out_height(self):
        return self.in_height // 2 if self.pool else self.in_height

    @property
    def out_width(self):
        return self.in_width // 2 if self.pool else self.in_width

    @property
    def fan_in(self):
        return self.codes[0].numel()


@dataclass
class ModelArtifact:
    T: int
    frac_bits: int            # F: potentials are integers in units of 2^-F
    acc_bits: int             # accumulator width W (signed), never exceeded for any input
    layers: list[Layer]
    classes: list[str]
    input_shape: tuple = (3, 32, 32)
    firing: str = "floor"
    name: str = ""
    meta: dict = field(default_factory=dict)
    coding: Coding = Coding()   # log-TTFS unless the header names another (docs/numerics.md)

    @property
    def num_weights(self):
        return sum(l.codes.numel() for l in self.layers)

    def describe(self) -> str:
        coding = f"coding {self.coding.to_json()}, " if self.coding.timed else ""
        lines = [f"{self.name or 'model'}: T={self.T} F={self.frac_bits} "
                 f"accumulator {self.acc_bits} bits, {coding}firing '{self.firing}', "
                 f"{self.num_weights:,} weights ({self.num_weights * 5 / 2**20:.3f} Mibit at 5 bits)"]
        for i, l in enumerate(self.layers):
            nz = int((l.codes & 0xF != WEIGHT_ZERO_EXP).sum())
            shape = (f"{l.in_channels}x{l.in_height}x{l.in_width} -> {l.out_channels}"
                     f"x{l.out_height}x{l.out_width}") if l.kind == "conv3x3" else \
                f"{l.in_channels} -> {l.out_channels}"
            lines.append(f"  {i}: {l.kind:7s} {shape:28s} k={l.k:3d} pool={int(l.pool)} "
                         f"fires={int(l.fires)} nonzero weights {nz}/{l.codes.numel()}")
        return "\n".join(lines)


def accumulator_bound(layer: Layer, T: int, frac_bits: int, first: bool,
                      coding: Coding = Coding()) -> int:
    """Largest |V| (units of 2^-F) any input can produce, partial sums included (a timed
    coding: over its whole window, docs/numerics.md)."""
    _, c, nonzero = decode_weight_codes(layer.codes.reshape(layer.out_channels, -1))
    if coding.timed:      # largest carried input value 2^e, in units of 2^-in_frac
        in_frac = PIXEL_FRAC_BITS if first else max(0, -coding.largest_exp)
        max_in = 255 if first else 1 << (coding.largest_exp + in_frac)
    else:
        in_frac = PIXEL_FRAC_BITS if first else T - 1
        max_in = 255 if first else 1 << (T - 1)          # largest input, units of 2^-in_frac
    shift = frac_bits - in_frac - WEIGHT_EXP_MAX - layer.k
    w_abs = torch.where(nonzero, torch.bitwise_left_shift(torch.ones_like(c),
                                                          (WEIGHT_EXP_MAX - c).clamp(min=0)), 0)
    per_out = (w_abs.sum(1) * max_in) << max(shift, 0)
    step = int((per_out + layer.bias.abs()).max())
    if not coding.timed:
        return step
    return step * T + (1 << (frac_bits + coding.max_burst + 1))


def required_acc_bits(art: ModelArtifact) -> int:
    bound = max(accumulator_bound(l, art.T, art.frac_bits, i == 0, art.coding)
                for i, l in enumerate(art.layers))
    return bound.bit_length() + 1  # + sign


def required_frac_bits_of(art: ModelArtifact) -> int:
    """The smallest F with which no term of the model's coding is truncated."""
    k0, ks = art.layers[0].k, [l.k for l in art.layers[1:]]
    if art.coding.timed:
        return art.coding.frac_bits_needed(k0, ks)
    return required_frac_bits(art.T, k0, ks)


# ------------------------------------------------------------------------------------------
def save_artifact(art: ModelArtifact, path: str | Path) -> Path:
    validate(art, "artifact to save")
    payload, layers = bytearray(), []
    for l in art.layers:
        entry = {"kind": l.kind, "in_channels": l.in_channels, "out_channels": l.out_channels,
                 "in_height": l.in_height, "in_width": l.in_width, "pool": l.pool,
                 "fires": l.fires, "k": l.k}
        for key, arr, dt in (("weights", l.codes, "u1"), ("bias", l.bias, "<i8")):
            data = arr.numpy().astype(dt).tobytes()
            entry[key] = {"offset": len(payload), "shape": list(arr.shape), "dtype": dt}
            payload += data
        layers.append(entry)
    header = {"format": "catsnn-model", "version": VERSION, "name": art.name, "T": art.T,
              "frac_bits": art.frac_bits, "acc_bits": art.acc_bits, "firing": art.firing,
              "input": {"channels": art.input_shape[0], "height": art.input_shape[1],
                        "width": art.input_shape[2], "pixel_frac_bits": PIXEL_FRAC_BITS},
              "classes": list(art.classes), "layers": layers, "meta": art.meta}
    if art.coding.timed:          # a log-TTFS artifact stays byte for byte as before
        header["coding"] = art.coding.to_json()
    hb = json.dumps(header, indent=1).encode()
    body = MAGIC + struct.pack("<II", VERSION, len(hb)) + hb + bytes(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    tmp.replace(path)
    return path


XZ_MAGIC = b"\xfd7zXZ\x00"


def load_artifact(path: str | Path) -> ModelArtifact:
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such model file") from None
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read ({e.strerror})") from None
    if blob.startswith(XZ_MAGIC):
        # an xz-compressed artifact (the format inside unchanged): VGG-16's one-byte codes take
        # 14 MiB, 6.6 MiB compressed, under the repository's limit for a tracked file
        try:
            blob = lzma.decompress(blob)
        except lzma.LZMAError as e:
            raise ArtifactError(f"{path}: corrupt xz compression ({e})") from None
    return parse_artifact(blob, str(path))


def parse_artifact(blob: bytes, where: str = "artifact") -> ModelArtifact:
    def fail(msg):
        raise ArtifactError(f"{where}: {msg}")

    if len(blob) < 20 or blob[:8] != MAGIC:
        fail("not a catsnn model file (bad magic)" if len(blob) >= 8 else
             f"truncated ({len(blob)} bytes)")
    version, hlen = struct.unpack_from("<II", blob, 8)
    if version != VERSION:
        fail(f"format version {version}; this catsnn reads version {VERSION}")
    if 16 + hlen + 4 > len(blob):
        fail(f"truncated: header of {hlen} bytes does not fit in {len(blob)} bytes")
    (crc,) = struct.unpack_from("<I", blob, len(blob) - 4)
    if zlib.crc32(blob[:-4]) != crc:
        fail("corrupt: CRC-32 mismatch (file truncated or altered)")
    try:
        h = json.loads(blob[16:16 + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"header is not valid JSON ({e})")
    payload = blob[16 + hlen:-4]
    check_header(h, version, where)

    layers, end = [], 0
    for i, e in enumerate(h["layers"]):
        arrays = {}
        for key, dt in ARRAY_DTYPES.items():
            spec = e[key]
            dtype = np.dtype(dt)
            count = int(np.prod(spec["shape"], dtype=np.int64))
            n = count * dtype.itemsize
            if spec["offset"] != end:
                fail(f"layer {i} {key}: at payload byte {spec['offset']}, expected {end} (arrays "
                     f"follow each other in layer order, weights then bias, without gaps)")
            if end + n > len(payload):
                fail(f"layer {i} {key}: bytes {end}..{end + n} outside the payload "
                     f"({len(payload)} bytes)")
            arr = np.frombuffer(payload, dtype=dtype, count=count, offset=end)
            arrays[key] = torch.from_numpy(arr.reshape(spec["shape"]).copy())
            end += n
        layers.append(Layer(e["kind"], e["in_channels"], e["out_channels"], e["in_height"],
                            e["in_width"], e["pool"], e["fires"], e["k"],
                            arrays["weights"].to(torch.uint8), arrays["bias"].to(torch.int64)))
    if end != len(payload):
        fail(f"payload of {len(payload)} bytes, the arrays take {end}")
    inp = h["input"]
    try:
        coding = Coding.parse(h["coding"]) if "coding" in h else Coding()
    except CodingError as e:
        fail(str(e))
    art = ModelArtifact(T=h["T"], frac_bits=h["frac_bits"], acc_bits=h["acc_bits"],
                        layers=layers, classes=list(h["classes"]),
                        input_shape=(inp["channels"], inp["height"], inp["width"]),
                        firing=h["firing"], name=h.get("name", ""), meta=h.get("meta", {}),
                        coding=coding)
    validate(art, where)
    return art


# the header's fields: name -> JSON type (int: an integer, not a boolean); every one required
# except the optional ones
HEADER_FIELDS = {"format": str, "version": int, "T": int, "frac_bits": int, "acc_bits": int,
                 "firing": str, "input": dict, "classes": list, "layers": list}
OPTIONAL_FIELDS = {"name": str, "meta": dict, "coding": dict}
INPUT_FIELDS = {"channels": int, "height": int, "width": int, "pixel_frac_bits": int}
LAYER_FIELDS = {"kind": str, "in_channels": int, "out_channels": int, "in_height": int,
                "in_width": int, "pool": bool, "fires": bool, "k": int, "weights": dict,
                "bias": dict}
ARRAY_FIELDS = {"offset": int, "shape": list, "dtype": str}
ARRAY_DTYPES = {"weights": "u1", "bias": "<i8"}       # normative: nothing else is read


def _check_fields(obj, fields: dict, what: str, fail, optional: dict = None):
    if not isinstance(obj, dict):
        fail(f"{what} is not a JSON object")
    for name, typ in {**fields, **(optional or {})}.items():
        if name not in obj:
            if name in fields:
                fail(f"{what} has no {name!r} field")
            continue
        v = obj[name]
        ok = isinstance(v, bool) if typ is bool else \
            isinstance(v, int) and not isinstance(v, bool) if typ is int else isinstance(v, typ)
        if not ok:
            fail(f"{what} field {name!r} is {type(v).__name__} {v!r}, expected {typ.__name__}")


def check_header(h, file_version: int, where: str = "artifact") -> None:
    """The header's schema (docs/artifact.md): every required field present with its type,
    the normative values, and nothing the loader would have to guess."""
    def fail(msg):
        raise ArtifactError(f"{where}: {msg}")
    _check_fields(h, HEADER_FIELDS, "header", fail, OPTIONAL_FIELDS)
    if h["format"] != "catsnn-model":
        fail(f"header format is {h['format']!r}, expected 'catsnn-model'")
    if h["version"] != file_version:
        fail(f"header version {h['version']} differs from the file's format version "
             f"{file_version}")
    _check_fields(h["input"], INPUT_FIELDS, "input", fail)
    if h["input"]["pixel_frac_bits"] != PIXEL_FRAC_BITS:
        fail(f"pixel_frac_bits {h['input']['pixel_frac_bits']} unsupported "
             f"({PIXEL_FRAC_BITS})")
    if not all(isinstance(c, str) for c in h["classes"]):
        fail("classes must be a list of names (strings)")
    if not h["layers"]:
        fail("no layers")
    for i, e in enumerate(h["layers"]):
        _check_fields(e, LAYER_FIELDS, f"layer {i}", fail)
        if e["kind"] == "fc" and (e["in_height"], e["in_width"]) != (1, 1):
            fail(f"layer {i} (fc): in_height and in_width must be 1, not "
                 f"{e['in_height']}x{e['in_width']}")
        for key, dt in ARRAY_DTYPES.items():
            _check_fields(e[key], ARRAY_FIELDS, f"layer {i} {key}", fail)
            spec = e[key]
            if spec["dtype"] != dt:
                fail(f"layer {i} {key}: dtype {spec['dtype']!r}, the format has {dt!r}")
            if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                       for d in spec["shape"]):
                fail(f"layer {i} {key}: shape {spec['shape']} is not a list of positive sizes")


def validate(art: ModelArtifact, where: str = "artifact") -> None:
    """Raise ArtifactError unless the network is one the reference and the hardware can run
    exactly: a chain of conv3x3 layers (optionally pooled) then one non-firing FC layer."""
    def fail(msg):
        raise ArtifactError(f"{where}: {msg}")

    if art.coding.timed:
        try:
            art.coding.check_window(art.T)
        except CodingError as e:
            fail(str(e))
    elif not T_MIN <= art.T <= T_MAX:
        fail(f"T={art.T} outside {T_MIN}..{T_MAX}")
    if art.firing not in FIRING_RULES:
        fail(f"firing rule {art.firing!r} unknown (known: {', '.join(FIRING_RULES)})")
    if len(art.layers) < 2:
        fail(f"{len(art.layers)} layers: need at least one conv3x3 and the final fc")
    c, h, w = art.input_shape
    for i, l in enumerate(art.layers):
        last = i == len(art.layers) - 1
        want_kind = "fc" if last else "conv3x3"
        if l.kind != want_kind:
            fail(f"layer {i} is {l.kind!r}; expected {want_kind!r} (conv3x3 layers, then one fc)")
        if l.fires == last:
            fail(f"layer {i}: {'the last layer must not fire' if last else 'must fire'}")
        if l.kind == "conv3x3":
            if (l.in_channels, l.in_height, l.in_width) != (c, h, w):
                fail(f"layer {i} expects input {l.in_channels}x{l.in_height}x{l.in_width}, "
                     f"previous layer gives {c}x{h}x{w}")
            if l.pool and (h % 2 or w % 2):
                fail(f"layer {i}: 2x2 pooling of an odd {h}x{w} map")
            want = (l.out_channels, l.in_channels, 3, 3)
            c, h, w = l.out_channels, l.out_height, l.out_width
        else:
            if l.in_channels != c * h * w or l.pool:
                fail(f"layer {i} (fc) expects {l.in_channels} inputs, previous layer gives "
                     f"{c}x{h}x{w} = {c * h * w}" + (" (and fc cannot pool)" if l.pool else ""))
            want = (l.out_channels, l.in_channels)
        if tuple(l.codes.shape) != want:
            fail(f"layer {i} weights have shape {tuple(l.codes.shape)}, expected {want}")
        if tuple(l.bias.shape) != (l.out_channels,):
            fail(f"layer {i} bias has shape {tuple(l.bias.shape)}, expected ({l.out_channels},)")
        bad = (l.codes.to(torch.int64) >= 32) | (l.codes == (WEIGHT_SIGN_BIT | WEIGHT_ZERO_EXP))
        if bad.any():
            fail(f"layer {i}: {int(bad.sum())} invalid 5-bit weight codes "
                 f"(first: {int(l.codes.flatten()[bad.flatten()][0])})")
        if not -64 <= l.k <= 64:
            fail(f"layer {i}: exponent offset k={l.k} out of range")
    if len(art.classes) != art.layers[-1].out_channels:
        fail(f"{len(art.classes)} class names for {art.layers[-1].out_channels} outputs")
    need_f = required_frac_bits_of(art)
    if art.frac_bits < need_f:
        fail(f"F={art.frac_bits} fractional bits would truncate synaptic terms; the weights "
             f"need F >= {need_f}")
    if art.frac_bits > 62:
        fail(f"F={art.frac_bits} too large")
    need_w = required_acc_bits(art)
    if art.acc_bits < need_w:
        fail(f"accumulator width {art.acc_bits} bits can overflow; the weights and biases "
             f"need {need_w} bits")
    if art.acc_bits > MAX_ACC_BITS:
        fail(f"accumulator width {art.acc_bits} bits exceeds the supported {MAX_ACC_BITS}")
