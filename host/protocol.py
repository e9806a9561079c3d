"""The framed binary protocol between the host and the SoC firmware.

One definition for both sides: the firmware's C header (``firmware/protocol.h``) is generated
from this module by ``c_header()`` at firmware build time.

Frame (little endian)::

    0   2  magic 0xC5 0x3A
    2   1  type      (reply: request type | 0x80; error reply: 0xFF)
    3   1  sequence  (a reply echoes its request's)
    4   2  length N  (payload bytes, N <= MAX_PAYLOAD)
    6   N  payload
    6+N 4  CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 2 .. 6+N-1

The firmware answers every frame it can delimit: a bad CRC, an unknown type, an oversize
length, a truncated frame (no byte for FRAME_TIMEOUT_MS) get an error reply whose payload is an
error code byte and a message; bytes that are not a magic are skipped (resync).
"""
from __future__ import annotations

import struct
import zlib

MAGIC_0, MAGIC_1 = 0xC5, 0x3A
MAGIC = bytes([MAGIC_0, MAGIC_1])
HEADER = struct.Struct("<2sBBH")          # magic, type, seq, length
MAX_PAYLOAD = 4096
FRAME_TIMEOUT_MS = 200                    # firmware: gap inside a frame that aborts it
FIRMWARE_VERSION = 1

# request types
CMD_INFO = 0x01          # -> core registers and firmware version
CMD_LOAD_BEGIN = 0x02    # u32 total bytes, u32 CRC-32 of the model image
CMD_LOAD_CHUNK = 0x03    # u32 offset, bytes (in order; a repeated chunk is acknowledged again)
CMD_LOAD_END = 0x04      # -> u32 layers; the whole image's CRC checked
CMD_IMAGE = 0x05         # C*H*W pixel bytes
CMD_RUN = 0x06           # u8 flags (bit 0: step mode) -> u32 status
CMD_CONTINUE = 0x07      # -> u32 status (step mode: next layer)
CMD_RESULT = 0x08        # u16 classes -> u8 class, i64 potentials, u32 cycles, u32 counters[]
CMD_READ_MAP = 0x09      # u8 layer, u32 word offset, u16 words -> words (layer must be current)
CMD_READ = 0x0A          # u8 region, u32 word offset, u16 words -> words (debug, idle only)
REPLY = 0x80
ERROR = 0xFF

# error codes (first payload byte of an ERROR reply)
ERR_BAD_CRC, ERR_TRUNCATED, ERR_OVERSIZE, ERR_UNKNOWN, ERR_BAD_ARGS, ERR_DOES_NOT_FIT, \
    ERR_NO_MODEL, ERR_STATE, ERR_TIMEOUT = range(1, 10)
ERROR_NAMES = {ERR_BAD_CRC: "bad CRC", ERR_TRUNCATED: "truncated frame",
               ERR_OVERSIZE: "oversize frame", ERR_UNKNOWN: "unknown command",
               ERR_BAD_ARGS: "bad arguments", ERR_DOES_NOT_FIT: "model does not fit",
               ERR_NO_MODEL: "no model loaded", ERR_STATE: "wrong state",
               ERR_TIMEOUT: "core timeout"}

# LOAD streams a model image: gateware/model_image.py defines it, gateware/placement.py makes it


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes > {MAX_PAYLOAD}")
    head = HEADER.pack(MAGIC, ftype, seq & 0xFF, len(payload))
    return head + payload + struct.pack("<I", crc32(head[2:] + payload))


def c_header() -> str:
    """The C view of this module (firmware/protocol.h is generated from it)."""
    lines = ["/* Generated from host/protocol.py by the firmware build: do not edit. */",
             "#pragma once"]
    for name, value in sorted(globals().items()):
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool):
            lines.append(f"#define PROTO_{name} {value}")
    return "\n".join(lines) + "\n"
