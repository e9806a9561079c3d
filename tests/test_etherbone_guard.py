"""The Etherbone guard in Migen's simulator against its software model
(``etherbone_packet.check``): for good requests and every kind of bad one, the guard passes
exactly the packets the model passes, unchanged but for the trailer, and counts each drop
under the model's reason. The first difference is named."""
import random
import struct
import zlib

from migen.sim import passive, run_simulation

from catsnn.gateware.etherbone_guard import EtherboneGuard
from catsnn.gateware.etherbone_packet import (DROP_REASONS, GUARD_BASE, REG_ACCEPTED, REG_PASSED,
                                              check, decode_reply, encode_request, next_seq)

WINDOW = (0x90000000, 0x90000000 + 0x1000)
GUARD = (GUARD_BASE, GUARD_BASE + 0x20)


def words_le(payload: bytes) -> list[int]:
    """The stream words LiteEth's UDP port carries (first wire byte in bits 0-7), the last one
    zero-padded."""
    payload = payload + bytes(-len(payload) % 4)
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


def run_guard(packets: list[bytes], stall_every: int = 0):
    """Feed packets through the guard; returns (forwarded payloads, registers)."""
    dut = EtherboneGuard([WINDOW], [WINDOW, GUARD])
    out, regs = [], []

    def feed():
        for p in packets:
            ws = words_le(p)
            for i, w in enumerate(ws):
                yield dut.sink.valid.eq(1)
                yield dut.sink.data.eq(w)
                yield dut.sink.last.eq(i == len(ws) - 1)
                yield dut.sink.length.eq(len(p))
                yield
                while not (yield dut.sink.ready):
                    yield
            yield dut.sink.valid.eq(0)
            yield
        for _ in range(700):
            yield
        for r in range(len(dut.regs)):
            regs.append((yield dut.regs[r]))

    def drain():
        cur, n = [], 0
        while True:
            n += 1
            ready = 0 if stall_every and n % stall_every == 0 else 1
            yield dut.source.ready.eq(ready)
            yield
            if ready and (yield dut.source.valid):
                cur.append((yield dut.source.data))
                if (yield dut.source.last):
                    out.append(struct.pack(f"<{len(cur)}I", *cur))
                    cur = []

    run_simulation(dut, [feed(), passive(drain)()])
    return out, regs


def model(packets):
    """What the software model passes and counts."""
    accepted, passed, counts = 0, [], {r: 0 for r in DROP_REASONS}
    for p in packets:
        why = check(p, accepted, [WINDOW], [WINDOW, GUARD])
        if why:
            counts[why] += 1
            continue
        seq = struct.unpack(">I", p[-8:-4])[0]
        _, _, wc, _ = struct.unpack_from(">BBBB", p, 8)
        if wc:
            accepted = seq
        passed.append(p[:-8])
    return passed, accepted, counts


def recrc(p: bytes) -> bytes:
    return p[:-4] + struct.pack("<I", zlib.crc32(p[:-4]))


def bad_packets(rng):
    """Good requests interleaved with every kind of bad one."""
    seq, out = 0xFFFD, []            # the count wraps (0 skipped) on the way
    for i in range(6):
        seq = next_seq(seq)
        good = encode_request(seq, WINDOW[0] + 4 * i, [rng.getrandbits(32) for _ in range(3)],
                              tag=i, reads=[GUARD[0]])
        out.append(good)
        flip = bytearray(good)
        flip[rng.randrange(len(flip) - 4)] ^= 1 << rng.randrange(8)
        out += [
            bytes(flip),                                              # crc
            good,                                                     # duplicate: seq
            good[:-12] + good[-8:],                                   # cut a word: crc
            recrc(good[:-12] + good[-8:]),                            # cut, CRC right: format
            recrc(good[:-4] + b"\0\0\0\0" + good[-4:]),               # a word too many
            good[:5],                                                 # truncated header
            bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 80))),   # garbage
            encode_request(next_seq(seq), WINDOW[1] - 4, [1, 2], tag=1, reads=[GUARD[0]]),
            encode_request(0, tag=7, reads=[0x40000000]),            # read outside: range
            encode_request(0, WINDOW[0], [5], tag=7),                 # a write with SEQ 0
            recrc(good[:8] + bytes([0, 0x03]) + good[10:]),          # byte enable: format
            recrc(bytes([0x4E, 0x6F, 0x11]) + good[3:]),              # probe flag: format
            encode_request(0, tag=9, reads=[WINDOW[0] + 8, GUARD[0] + 4]),   # good, read only
        ]
    out.append(encode_request(next_seq(seq, 9), WINDOW[0], list(range(253)), tag=3,
                              reads=[GUARD[0]]))            # the largest record, a new client
    out.append(encode_request(next_seq(next_seq(seq, 9)), WINDOW[0], list(range(254)), tag=3,
                              reads=[GUARD[0]]))                      # one word too many
    return out


def test_guard_matches_model():
    packets = bad_packets(random.Random(5))
    want, accepted, counts = model(packets)
    assert all(counts.values()), counts               # every reason occurs
    got, regs = run_guard(packets, stall_every=3)
    for i, (a, b) in enumerate(zip(want, got)):
        assert a == b, f"passed packet {i} differs"
    assert len(got) == len(want), f"{len(got)} passed, model {len(want)}"
    assert regs[REG_PASSED] == len(want)
    assert regs[REG_ACCEPTED] == accepted
    for why, reg in DROP_REASONS.items():
        assert regs[reg] == counts[why], f"{why}: guard {regs[reg]}, model {counts[why]}"


def test_packet_format():
    p = encode_request(5, 0x90000010, [0x11223344], tag=0xABCD, reads=[GUARD_BASE])
    assert p[:4] == bytes([0x4E, 0x6F, 0x10, 0x44])
    assert p[8:12] == bytes([0, 0x0F, 1, 1])
    assert p[12:20] == bytes.fromhex("9000001011223344")
    assert p[-8:-4] == bytes([0, 0, 0, 5])
    assert struct.unpack("<I", p[-4:])[0] == zlib.crc32(p[:-4])
    reply = bytes([0x4E, 0x6F, 0x10, 0x44, 0, 0, 0, 0, 0, 0x0F, 2, 0]) + \
        struct.pack(">3I", 0xABCD, 7, 8)
    assert decode_reply(reply) == (0xABCD, [7, 8])
    assert next_seq(0xFFFFFFFF) == 0xFFFF0001 and next_seq(0x0005FFFF, 7) == 0x00070001


def test_guarded_etherbone_chain():
    """Requests through the guard and LiteEth's Etherbone into a Wishbone memory: writes land,
    reads come back in a reply carrying the tag, a bad packet changes nothing."""
    from migen import Module
    from litex.soc.interconnect import wishbone

    from catsnn.gateware.etherbone_guard import GuardedEtherbone

    class Bench(Module):
        def __init__(self):
            self.submodules.eb = GuardedEtherbone([WINDOW], [WINDOW, GUARD])
            self.submodules.ram = wishbone.SRAM(0x1000, bus=wishbone.Interface())
            self.submodules.dec = wishbone.Decoder(self.eb.bus, [
                (lambda a: a[22:30] == 0x90, self.ram.bus),        # word addresses
                (lambda a: a[22:30] == GUARD_BASE >> 24, self.eb.guard.bus)])

    dut = Bench()
    rng = random.Random(7)
    data = [rng.getrandbits(32) for _ in range(200)]
    good = [encode_request(1, WINDOW[0], data, tag=11, reads=[GUARD[0]]),
            encode_request(0, tag=12, reads=[WINDOW[0] + 4 * i for i in (0, 5, 199)])]
    bad = bytearray(encode_request(2, WINDOW[0], [0] * 4, tag=13, reads=[GUARD[0]]))
    bad[20] ^= 0x10
    packets = [good[0], bytes(bad), good[1]]
    replies, regs = [], []

    def feed():
        for p in packets:
            ws = words_le(p)
            for i, w in enumerate(ws):
                yield dut.eb.sink.valid.eq(1)
                yield dut.eb.sink.data.eq(w)
                yield dut.eb.sink.last.eq(i == len(ws) - 1)
                yield dut.eb.sink.length.eq(len(p))
                yield dut.eb.sink.src_port.eq(40000 + len(p))
                yield
                while not (yield dut.eb.sink.ready):
                    yield
            yield dut.eb.sink.valid.eq(0)
            for _ in range(1500):
                yield
        for r in dut.eb.guard.regs:
            regs.append((yield r))

    @passive
    def drain():
        cur = []
        yield dut.eb.source.ready.eq(1)
        while True:
            yield
            if (yield dut.eb.source.valid):
                cur.append((yield dut.eb.source.data))
                if (yield dut.eb.source.last):
                    replies.append(struct.pack(f"<{len(cur)}I", *cur))
                    ports.append((yield dut.eb.source.dst_port))
                    cur = []

    ports = []
    run_simulation(dut, [feed(), drain()])
    assert regs[REG_PASSED] == 2 and regs[DROP_REASONS["crc"]] == 1, regs
    assert len(replies) == 2, f"{len(replies)} replies, expected 2"
    assert decode_reply(replies[0]) == (11, [1])
    assert decode_reply(replies[1]) == (12, [data[0], data[5], data[199]])
    assert ports == [40000 + len(good[0]), 40000 + len(good[1])]     # back to the sender
