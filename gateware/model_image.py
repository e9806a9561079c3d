"""The model image: the one format in which a placed model reaches a core.

A model image is a sequence of records, each ``u8 region, 3 zero bytes, u32 word offset,
u32 count`` (little endian) followed by ``count`` u32 words. The first record (region
``RECORD_NEEDS``, 8 words) states what the model needs: P, accumulator bits, layers, and words
per bank of weights, biases, membranes, spike maps, then image bytes. The others write words
into the core's window: region ``REGION_REGS`` (layer program, layer count) and ``REGION_BIAS``
at ``offset + i``; region ``REGION_WEIGHT`` as dense lane groups, dense index ``i = offset + k``
going to bus offset ``(i // G) << clog2(G) | i % G`` with ``G = lane_groups(P)``.

``writes`` is what a loader does with an image, the same rules as the firmware
(firmware/main.c ``load_bytes``): the needs record first and checked against the core before
anything is written, no other region, no record outside the words it may write
(``writable_range``), nothing left over.
The Verilator device loads through it, so every core test also tests the board format.
"""
from __future__ import annotations

import struct

from catsnn.errors import UserError
from catsnn.gateware.core_config import (PROGRAM_WORDS, RECORD_NEEDS, REG_NLAYERS, REG_PROGRAM,
                                         REGION_BIAS, REGION_REGS, REGION_WEIGHT, CoreConfig,
                                         DoesNotFit, clog2, lane_groups)

RECORD = struct.Struct("<B3xII")      # region, word offset, count
NEEDS_WORDS = 8
WEIGHT_RECORD_WORDS = 4096            # weight records of at most 16 KiB
WRITABLE_REGIONS = (REGION_REGS, REGION_BIAS, REGION_WEIGHT)


class ModelImageError(UserError):
    pass


def encode_record(region: int, offset: int, words: list[int]) -> bytes:
    return RECORD.pack(region, offset, len(words)) + struct.pack(f"<{len(words)}I", *words)


def decode_records(image: bytes):
    """The records of an image as (region, offset, words); a cut record is an error."""
    pos, out = 0, []
    while pos < len(image):
        if pos + RECORD.size > len(image):
            raise ModelImageError(f"model image: record header cut at byte {pos}")
        region, offset, count = RECORD.unpack_from(image, pos)
        pos += RECORD.size
        if pos + 4 * count > len(image):
            raise ModelImageError(f"model image: record at byte {pos - RECORD.size} holds "
                                  f"{count} words, the image ends after "
                                  f"{(len(image) - pos) // 4}")
        out.append((region, offset, list(struct.unpack_from(f"<{count}I", image, pos))))
        pos += 4 * count
    return out


def check_needs(needs: list[int], cfg: CoreConfig):
    """Refuse a model the core cannot hold (the firmware's check_needs, same messages)."""
    pe, acc, layers, weights, biases, membranes, maps, image = needs
    if pe != cfg.pe:
        raise DoesNotFit(f"model image built for P = {pe}, core has P = {cfg.pe}")
    if acc > cfg.acc_bits:
        raise DoesNotFit(f"model needs a {acc}-bit accumulator, core has {cfg.acc_bits}")
    if not 1 <= layers <= cfg.max_layers:
        raise DoesNotFit(f"model has {layers} layers, core holds 1..{cfg.max_layers}")
    for name, need, have in (("weights", weights, cfg.weight_depth),
                             ("biases", biases, cfg.bias_depth),
                             ("membranes", membranes, cfg.membrane_depth),
                             ("spike maps", maps, cfg.map_depth)):
        if need > have:
            raise DoesNotFit(f"{name} memory: model needs {need} words per bank, core has {have}")
    if image > cfg.image_depth:
        raise DoesNotFit(f"image memory: model needs {image} bytes, core has {cfg.image_depth}")


def writable_range(region: int, offset: int, cfg: CoreConfig) -> tuple[int, int]:
    """[lo, hi): the words a record of ``region`` starting at ``offset`` may write. Weights:
    dense lane-group indices of the whole region; region 0: the layer count alone, or the
    layer program; biases: the whole region. (Nothing else: a model image cannot start the
    core or write its image, membranes or maps.)"""
    top = 1 << cfg.region_shift
    if region == REGION_WEIGHT:
        return 0, (top >> clog2(lane_groups(cfg.pe))) * lane_groups(cfg.pe)
    if region == REGION_REGS:
        if offset == REG_NLAYERS:
            return REG_NLAYERS, REG_NLAYERS + 1
        return REG_PROGRAM, REG_PROGRAM + cfg.max_layers * PROGRAM_WORDS
    return 0, top


def writes(image: bytes, cfg: CoreConfig):
    """(needs words, [(word address, value), ...], [(external word, value), ...]): what
    loading ``image`` writes into a core of configuration ``cfg``, in order: into its window,
    and (a core with external weights) into the external memory it stages weights from, where
    dense weight index i is word i."""
    records = decode_records(image)
    if not records or records[0][0] != RECORD_NEEDS or len(records[0][2]) != NEEDS_WORDS:
        raise ModelImageError("model image: needs record missing")
    needs = records[0][2]
    check_needs(needs, cfg)
    rs, ng, gb = cfg.region_shift, lane_groups(cfg.pe), clog2(lane_groups(cfg.pe))
    out, external = [], []
    for region, offset, words in records[1:]:
        if region not in WRITABLE_REGIONS:
            raise ModelImageError(f"model image: record for region {region}")
        n = len(words)
        if region == REGION_WEIGHT and cfg.external_weights:
            external += list(enumerate(words, offset))
            continue
        lo, hi = writable_range(region, offset, cfg)
        if offset < lo or offset + n > hi:
            raise ModelImageError(f"model image: record past region end ({offset} + {n})")
        if region == REGION_REGS and offset == REG_NLAYERS and words[0] != needs[2]:
            raise ModelImageError(f"model image: layer count {words[0]} differs from the needs "
                                  f"record's {needs[2]}")
        base = region << rs
        if region == REGION_WEIGHT:
            out += [(base | (i // ng) << gb | i % ng, w) for i, w in enumerate(words, offset)]
        else:
            out += [(base | (offset + k), w) for k, w in enumerate(words)]
    return needs, out, external


def spans(pairs, cfg: CoreConfig) -> list[tuple[int, list[int]]]:
    """``writes``' pairs as runs of consecutive word addresses [(first address, words)], in
    order, for buses that write blocks. Between two weight words a gap of unused lane-group
    slots (bus offsets with ``offset % 2**clog2(G) >= G``, which the window ignores) is filled
    with zeros, so the weights of a model form one run."""
    rs, ng, gb = cfg.region_shift, lane_groups(cfg.pe), clog2(lane_groups(cfg.pe))
    out: list[tuple[int, list[int]]] = []
    for adr, value in pairs:
        if out:
            start, words = out[-1]
            end = start + len(words)
            if adr == end:
                words.append(value)
                continue
            if (adr >> rs == REGION_WEIGHT and (end - 1) >> rs == REGION_WEIGHT and adr > end
                    and all((a & ((1 << gb) - 1)) >= ng for a in range(end, adr))):
                words += [0] * (adr - end) + [value]
                continue
        out.append((adr, [value]))
    return out
