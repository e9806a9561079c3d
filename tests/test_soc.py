"""The simulated SoC end to end (issue 4): the firmware's framed protocol under bad input, and
real CIFAR-10 images through the shipped model over the UART, checked layer by layer against the
reference model. Builds the simulation once (cached under build/sim)."""
import random
import struct
import time

import pytest
import torch

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware.core_config import CoreConfig
from catsnn.gateware.placement import model_image
from catsnn.host import protocol as P
from catsnn.host.backends import DeviceBackend, EvalOptions, ReferenceBackend
from catsnn.host.evaluate import compare
from catsnn.host.link import DeviceError, Link, LinkError



@pytest.fixture(scope="module")
def sim(soc_sim):
    return soc_sim


@pytest.fixture
def link(sim):
    """A client of the simulated SoC (it serves one at a time: closed after each test)."""
    lk = Link(sim.url, timeout=10)
    yield lk
    lk.close()


def expect_error(link, frame, code, timeout=10.0):
    """Send raw bytes; the next frame must be an error reply with this code."""
    link.send_raw(frame)
    got = link.read_frame(time.monotonic() + timeout)
    assert got is not None, "no reply to a bad frame"
    ftype, _, payload = got
    assert ftype == P.ERROR and payload[0] == code, (ftype, payload)
    return payload[1:].decode()


def info_works(link):
    r = link.request(P.CMD_INFO)
    regs = struct.unpack(f"<{len(r) // 4}I", r)
    assert regs[0] == P.FIRMWARE_VERSION and regs[1 + 4] & 0xFFFF == 0xCA75


@pytest.mark.slow
def test_firmware_rejects_bad_frames_and_keeps_answering(link):
    info_works(link)
    good = P.encode(P.CMD_INFO, 77)
    # a wrong CRC
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    assert "CRC" in expect_error(link, bad, P.ERR_BAD_CRC)
    info_works(link)
    # a payload bit flipped in transit (CRC no longer matches)
    img = P.encode(P.CMD_IMAGE, 5, bytes(100))
    img = img[:20] + bytes([img[20] ^ 1]) + img[21:]
    expect_error(link, img, P.ERR_BAD_CRC)
    info_works(link)
    # a truncated frame: the firmware gives up after FRAME_TIMEOUT_MS of silence
    msg = expect_error(link, P.encode(P.CMD_IMAGE, 6, bytes(300))[:150], P.ERR_TRUNCATED)
    assert "truncated" in msg
    info_works(link)
    # line noise (no magic in it): skipped silently
    rng = random.Random(0)
    link.send_raw(bytes(rng.choice([b for b in range(256) if b != P.MAGIC_0])
                        for _ in range(3000)))
    info_works(link)
    # an oversize length field
    head = P.HEADER.pack(P.MAGIC, P.CMD_IMAGE, 9, P.MAX_PAYLOAD + 1)
    assert "payload of" in expect_error(link, head, P.ERR_OVERSIZE)
    info_works(link)
    # an unknown command, well framed
    with pytest.raises(DeviceError) as e:
        link.request(0x42)
    assert e.value.code == P.ERR_UNKNOWN
    # commands that need a model or a finished run
    with pytest.raises(DeviceError) as e:
        link.request(P.CMD_RUN, b"\0")
    assert e.value.code in (P.ERR_NO_MODEL, P.ERR_STATE)
    with pytest.raises(DeviceError) as e:
        link.request(P.CMD_RESULT, struct.pack("<H", 10))
    assert e.value.code in (P.ERR_NO_MODEL, P.ERR_STATE)
    info_works(link)


@pytest.mark.slow
def test_model_that_does_not_fit_and_corrupt_model_are_refused(link, shipped_model):
    art = load_artifact(shipped_model)
    image = bytearray(model_image(art, CoreConfig.compact(16)))
    # needs record: words P, acc, layers, weights, ... ; ask for more weight words than exist
    too_big = bytearray(image)
    struct.pack_into("<I", too_big, 12 + 3 * 4, 10 ** 6)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(too_big), P.crc32(bytes(too_big))))
    with pytest.raises(DeviceError) as e:
        link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", 0) + bytes(too_big[:1000]))
    assert e.value.code == P.ERR_DOES_NOT_FIT and "weights memory" in e.value.message
    # a whole image whose announced CRC is wrong: refused at the end, model unusable
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(bytes(image)) ^ 1))
    for off in range(0, len(image), 4092):
        link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", off) + bytes(image[off:off + 4092]))
    with pytest.raises(DeviceError) as e:
        link.request(P.CMD_LOAD_END)
    assert e.value.code == P.ERR_BAD_CRC
    with pytest.raises(DeviceError) as e:
        link.request(P.CMD_IMAGE, bytes(3072))
    assert e.value.code == P.ERR_NO_MODEL
    info_works(link)


@pytest.mark.slow
def test_ten_real_images_bit_exact_through_the_soc(sim, data, shipped_model):
    art = load_artifact(shipped_model)
    x = load_split(data, train=False).images[:10]
    be = DeviceBackend("soc", art, sim.url, EvalOptions(check=True, timeout=60, progress=False))
    link = be.device.link
    try:
        ref = ReferenceBackend(art)
        out = be.run(x[:5])
        bad, first = compare(ref.run(x[:5]), out, art, 0)
        assert not bad.any(), first
        # garbage between two runs: rejected, and the device still answers correctly
        expect_error(link, P.encode(P.CMD_INFO, 3)[:-2] + b"\0\0", P.ERR_BAD_CRC)
        link.send_raw(b"\x00\x11\x22noise" * 50)
        out2 = be.run(x[5:])
        bad, first = compare(ref.run(x[5:]), out2, art, 5)
        assert not bad.any(), first
        sops = torch.cat([out.sops, out2.sops])
        assert (sops.sum(1) > 10 ** 6).all()
        assert be.info()["link_bytes_per_s"] > 0
    finally:
        be.close()


def test_dead_link_is_a_clear_error():
    from catsnn.host.simulation import free_port
    with pytest.raises(LinkError, match="cannot open"):
        Link(f"socket://127.0.0.1:{free_port()}", timeout=0.5)


def test_silent_device_times_out_with_a_clear_error():
    """A port that accepts the connection but never answers: retries, then one clear error."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    link = Link(f"socket://127.0.0.1:{srv.getsockname()[1]}", timeout=0.3, retries=2)
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="no reply from the device .* after 3 tries"):
        link.request(P.CMD_INFO)
    assert time.monotonic() - t0 < 5
    link.close()
    srv.close()
