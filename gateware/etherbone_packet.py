"""catsnn's Etherbone packets: the UDP payloads the host and the SoC's Ethernet exchange.

A request is one Etherbone packet (LiteEth's subset: one record, 32-bit addresses and data,
big endian) followed by a trailer of two words::

    4e 6f 1x 44 00 00 00 00      packet header: magic, version 1 | flags (nr), 32-bit sizes
    00 0f WC RC                  record header: flags, byte enable 0x0f, write count, read count
    [A  D0 .. D(WC-1)]           if WC: byte address of the first write, then WC data words
    [R  S0 .. S(RC-1)]           if RC: a tag the reply carries back, then RC byte addresses
    SEQ                          client << 16 | sequence number (big endian); 0 without writes
    CRC                          CRC-32 (zlib's) of every byte before it, little endian

The guard (``etherbone_guard.py``) passes a request on to LiteEth's Etherbone core, without
its trailer, only when all of this holds (``check``, the software model, states it exactly):
the CRC matches; the header is as above (probe packets are refused); the record has WC + RC
> 0 and at most ``RECORD_WORDS`` words, the payload exactly the words the counts say; the
writes lie in one writable range (the core's window; and the DRAM where the SoC has one),
every read in a writable range or the guard's registers; and a
packet with writes carries a SEQ whose low 16 bits follow those of the last accepted SEQ (+ 1,
0 skipped: ``next_seq``); its high 16 bits name the client (any value). Anything else is
dropped and counted by reason. Sequence numbers make a write happen at most once: a
duplicated, delayed or replayed write packet is dropped, and a host that lost a reply reads
``REG_ACCEPTED`` to learn whether its write happened; a client id there that is not its own
means another client wrote since (the host then stops with an error).

A reply is LiteEth's Etherbone reply: a packet header and one record whose write address is
the request's tag, followed by the RC words read (in LiteEth's reply format, no trailer).
"""
from __future__ import annotations

import struct
import zlib

# where things are on the SoC's bus (gateware/soc.py places them there)
SNN_BASE = 0x90000000    # the core's window (uncached, in VexRiscv's IO region)
GUARD_BASE = 0x98000000  # the guard's registers (the window below may span 128 MiB)
UDP_PORT = 1234          # Etherbone's UDP port (LiteX's default)

MAGIC = 0x4E6F
VERSION = 1
HEADER = struct.Struct(">HBB4x")          # magic, version << 4 | flags, addr/port sizes
RECORD_HEADER = struct.Struct(">BBBB")   # flags, byte enable, write count, read count
FLAG_NR = 0x04                           # "no reads" flag bit as LiteEth sends it; ignored
SIZES = 0x44                             # 32-bit addresses, 32-bit ports
BYTE_ENABLE = 0x0F
RECORD_WORDS = 256     # LiteEth's record FIFOs (buffer_depth): a longer record would wedge them
MAX_WRITES = RECORD_WORDS - 3            # address + writes + tag + one read
MAX_READS = RECORD_WORDS - 1             # tag + reads
TRAILER_WORDS = 2
MAX_PAYLOAD_WORDS = 3 + RECORD_WORDS + TRAILER_WORDS

# the guard's registers: 32-bit words at GUARD_BASE (read-only, over the bus)
REG_ACCEPTED = 0      # SEQ of the last accepted packet with writes (0 after reset)
REG_PASSED = 1        # packets passed on
REG_DROPPED_CRC = 2   # dropped: CRC mismatch
REG_DROPPED_SEQ = 3   # dropped: a write packet whose SEQ is not the next one
REG_DROPPED_FORMAT = 4  # dropped: header, counts, byte enable or length
REG_DROPPED_RANGE = 5   # dropped: an address outside what the packet may reach
GUARD_REGS = 6
DROP_REASONS = {"crc": REG_DROPPED_CRC, "seq": REG_DROPPED_SEQ,
                "format": REG_DROPPED_FORMAT, "range": REG_DROPPED_RANGE}


class PacketError(Exception):
    """A reply that is not a well-formed Etherbone reply."""


def encode_request(seq: int, write_addr: int | None = None, writes=(), tag: int = 0,
                   reads=()) -> bytes:
    """A request: ``writes`` (words) from byte address ``write_addr``; ``reads`` (byte
    addresses) answered in a reply carrying ``tag``."""
    writes, reads = list(writes), list(reads)
    body = HEADER.pack(MAGIC, VERSION << 4, SIZES)
    body += RECORD_HEADER.pack(0, BYTE_ENABLE, len(writes), len(reads))
    if writes:
        body += struct.pack(f">I{len(writes)}I", write_addr, *writes)
    if reads:
        body += struct.pack(f">I{len(reads)}I", tag, *reads)
    body += struct.pack(">I", seq)
    return body + struct.pack("<I", zlib.crc32(body))


def decode_reply(payload: bytes) -> tuple[int, list[int]]:
    """(tag, words read) of a reply."""
    if len(payload) < HEADER.size + RECORD_HEADER.size:
        raise PacketError(f"reply of {len(payload)} bytes")
    magic, _, _ = HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise PacketError(f"reply magic {magic:#06x}")
    _, _, wcount, rcount = RECORD_HEADER.unpack_from(payload, HEADER.size)
    pos = HEADER.size + RECORD_HEADER.size
    if rcount or not wcount:
        raise PacketError(f"reply record with {wcount} writes and {rcount} reads")
    if len(payload) < pos + 4 * (1 + wcount):
        raise PacketError(f"reply of {len(payload)} bytes for {wcount} words")
    tag, *words = struct.unpack_from(f">I{wcount}I", payload, pos)
    return tag, words


def check(payload: bytes, accepted: int, write_ranges: list[tuple[int, int]],
          read_ranges: list[tuple[int, int]]) -> str | None:
    """The guard's decision, in software: None (pass) or the reason it drops the packet
    ("crc", "format", "range", "seq"), checked in that order of precedence."""
    n = len(payload)
    if n % 4 or n // 4 < 3 + TRAILER_WORDS or n // 4 > MAX_PAYLOAD_WORDS:
        return "format"
    words_be = struct.unpack(f">{n // 4}I", payload)
    if zlib.crc32(payload[:-4]) != struct.unpack("<I", payload[-4:])[0]:
        return "crc"
    magic, vf, sizes = HEADER.unpack_from(payload)
    _, be, wc, rc = RECORD_HEADER.unpack_from(payload, HEADER.size)
    record = (1 + wc if wc else 0) + (1 + rc if rc else 0)
    if (magic != MAGIC or vf >> 4 != VERSION or vf & 0x01 or sizes != SIZES
            or be != BYTE_ENABLE or record == 0 or record > RECORD_WORDS
            or n // 4 != 3 + record + TRAILER_WORDS):
        return "format"
    pos = 3
    if wc:
        base = words_be[pos]
        if base % 4 or not any(lo <= base and base + 4 * wc <= hi for lo, hi in write_ranges):
            return "range"
        pos += 1 + wc
    if rc:
        for a in words_be[pos + 1:pos + 1 + rc]:
            if a % 4 or not any(lo <= a < hi for lo, hi in read_ranges):
                return "range"
    seq = words_be[-2]
    if wc and seq & 0xFFFF != next_seq(accepted) & 0xFFFF:
        return "seq"
    return None


def next_seq(accepted: int, client: int | None = None) -> int:
    """The SEQ of the write that follows ``accepted``, for ``client`` (16 bits; default: the
    client of ``accepted``). The low 16 bits count, skipping 0."""
    client = accepted >> 16 if client is None else client
    return (client & 0xFFFF) << 16 | ((accepted + 1) & 0xFFFF or 1)
