"""The firmware and the simulated link under faults a lost reply or a hostile client causes
(docs/protocol.md): resent requests never act twice, every (offset, length) is checked without
overflow, empty and inconsistent states are refused, the framing rules hold, the simulation
serves one client at a time on loopback, and it stops with the command that started it."""
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catsnn.gateware.core_config import CoreConfig, REGION_REGS, STATUS_PAUSED
from catsnn.gateware import model_image as image_format
from catsnn.gateware.placement import model_image
from catsnn.host import protocol as P
from catsnn.host.link import DeviceError, Link
from catsnn.host.simulation import _listening, free_port

from helpers import random_artifact, random_images

pytestmark = pytest.mark.slow
CFG = CoreConfig.compact(16)


@pytest.fixture
def link(soc_sim):
    """A client of the shared simulated SoC (one at a time: closed after each test)."""
    lk = Link(soc_sim.url, timeout=20)
    yield lk
    lk.close()


def exchange(link, frame, timeout=20.0):
    """Send raw bytes; the next frame (type, seq, payload)."""
    link.send_raw(frame)
    got = link.read_frame(time.monotonic() + timeout)
    assert got is not None, "no reply"
    return got


def load(link, art):
    image = model_image(art, CFG)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
    for off in range(0, len(image), 4092):
        link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", off) + image[off:off + 4092])
    return link.request(P.CMD_LOAD_END)


def refused(link, cmd, payload, code):
    with pytest.raises(DeviceError) as e:
        link.request(cmd, payload)
    assert e.value.code == code, e.value
    return e.value.message


# ---------------------------------------------------------------- 1. resent requests

def test_a_resent_continue_does_not_advance_a_second_layer(link):
    art = random_artifact([4, "P", 4, "P", 4], T=8)
    assert struct.unpack("<I", load(link, art))[0] == 4
    link.request(P.CMD_IMAGE, bytes(random_images(1)[0].reshape(-1).tolist()))
    (st,) = struct.unpack("<I", link.request(P.CMD_RUN, b"\1"))
    assert st & STATUS_PAUSED and (st >> 8) & 0xFF == 0
    frame = P.encode(P.CMD_CONTINUE, 200)
    first = exchange(link, frame)
    again = exchange(link, frame)               # the reply was "lost": the host resends
    assert first == again and first[0] == P.CMD_CONTINUE | P.REPLY
    (st,) = struct.unpack("<I", first[2])
    assert st & STATUS_PAUSED and (st >> 8) & 0xFF == 1          # one layer, not two
    link.request(P.CMD_READ_MAP, struct.pack("<BIH", 1, 0, 4))   # layer 1 is the current one
    (st,) = struct.unpack("<I", link.request(P.CMD_CONTINUE))
    assert (st >> 8) & 0xFF == 2


def test_a_resent_load_end_gets_the_same_reply(link):
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    image = model_image(art, CFG)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
    link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", 0) + image)
    frame = P.encode(P.CMD_LOAD_END, 201)
    first, again = exchange(link, frame), exchange(link, frame)
    assert first == again and first[0] == P.CMD_LOAD_END | P.REPLY


# ---------------------------------------------------------------- 2. bounds without overflow

@pytest.mark.parametrize("cmd", [P.CMD_READ, P.CMD_READ_MAP])
def test_reads_at_an_overflowing_offset_are_refused(link, cmd):
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    load(link, art)
    refused(link, cmd, struct.pack("<BIH", 0, 0xFFFFFFFF, 2), P.ERR_BAD_ARGS)
    refused(link, cmd, struct.pack("<BIH", 0, 0xFFFFFFF0, 1000), P.ERR_BAD_ARGS)


@pytest.mark.parametrize("record", [
    (REGION_REGS, 0, [1]),                  # the control register: would start the core
    (2, 0xFFFFFFFF, [0, 0]),                # offset + count wraps around
    (3, 0xFFFFFFFE, [0, 0, 0, 0]),
])
def test_a_crafted_record_is_refused_before_it_writes(link, record):
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    image = model_image(art, CFG) + image_format.encode_record(*record)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
    msg = refused(link, P.CMD_LOAD_CHUNK, struct.pack("<I", 0) + image, P.ERR_BAD_ARGS)
    assert "past region end" in msg
    refused(link, P.CMD_RUN, b"\0", P.ERR_NO_MODEL)


# ---------------------------------------------------------------- 3. empty and inconsistent states

def test_empty_and_inconsistent_requests_are_refused(link):
    assert "no needs record" in refused(link, P.CMD_LOAD_BEGIN, struct.pack("<II", 0, 0),
                                        P.ERR_BAD_ARGS)
    refused(link, P.CMD_LOAD_END, b"", P.ERR_STATE)          # no load in progress
    refused(link, P.CMD_INFO, b"x", P.ERR_BAD_ARGS)
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    image = model_image(art, CFG)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image)))
    link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", 0) + image)
    refused(link, P.CMD_LOAD_END, b"\0\0\0\0", P.ERR_BAD_ARGS)   # LOAD_END takes no payload


def test_after_a_failed_load_no_result_of_the_previous_model(link):
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    load(link, art)
    link.request(P.CMD_IMAGE, bytes(48))
    link.request(P.CMD_RUN, b"\0")
    link.request(P.CMD_RESULT, struct.pack("<H", 3))           # a finished run
    image = model_image(art, CFG)
    link.request(P.CMD_LOAD_BEGIN, struct.pack("<II", len(image), P.crc32(image) ^ 1))
    link.request(P.CMD_LOAD_CHUNK, struct.pack("<I", 0) + image)
    refused(link, P.CMD_LOAD_END, b"", P.ERR_BAD_CRC)
    refused(link, P.CMD_RESULT, struct.pack("<H", 3), P.ERR_NO_MODEL)
    refused(link, P.CMD_READ_MAP, struct.pack("<BIH", 0, 0, 1), P.ERR_NO_MODEL)


# ---------------------------------------------------------------- 4. framing

def test_a_frame_cut_before_its_sequence_byte_is_answered_with_sequence_0(link):
    ftype, seq, payload = exchange(link, P.MAGIC + bytes([P.CMD_INFO]))
    assert (ftype, seq, payload[0]) == (P.ERROR, 0, P.ERR_TRUNCATED)


def test_after_an_oversize_header_the_announced_payload_is_skipped(link):
    inner = P.encode(P.CMD_INFO, 77)                    # a frame hidden in the payload
    n = P.MAX_PAYLOAD + 100
    body = inner + bytes(n + 4 - len(inner))
    ftype, _, payload = exchange(link, P.HEADER.pack(P.MAGIC, P.CMD_IMAGE, 76, n) + body)
    assert ftype == P.ERROR and payload[0] == P.ERR_OVERSIZE
    assert link.read_frame(time.monotonic() + 3) is None, "a frame inside the payload was taken"
    link.request(P.CMD_INFO)


# ---------------------------------------------------------------- 5, 6. the simulated link

def test_the_uart_port_listens_on_loopback_only(soc_sim):
    port = soc_sim.port
    rows = [line.split() for table in ("/proc/net/tcp", "/proc/net/tcp6")
            for line in Path(table).read_text().splitlines()[1:]]
    local = [r[1] for r in rows if r[3] == "0A" and int(r[1].rsplit(":", 1)[1], 16) == port]
    assert local == [f"0100007F:{port:04X}"], local


def test_one_client_at_a_time_and_a_clean_reconnect(soc_sim):
    first = Link(soc_sim.url, timeout=20, retries=0)
    first.request(P.CMD_INFO)
    second = socket.create_connection(("127.0.0.1", soc_sim.port), timeout=10)
    msg = second.recv(200).decode()
    assert "busy: another client is connected" in msg
    assert second.recv(10) == b""                      # and closed
    second.close()
    first.request(P.CMD_INFO)                          # the first one is still served
    first.send_raw(P.encode(P.CMD_IMAGE, 9, bytes(1000))[:300])   # gone in the middle of a frame
    first.close()
    again = Link(soc_sim.url, timeout=20, retries=0)   # no retry: it works on the first try
    again.request(P.CMD_INFO)
    again.close()


# ---------------------------------------------------------------- 7. stopping

def _sim_command(port):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "catsnn.cli", "sim", "--tcp-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)


def _wait(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_the_simulator_stops_however_the_command_ends(soc_sim, how):
    port = free_port()
    proc = _sim_command(port)
    try:
        assert _wait(lambda: _listening(port), 120), "the simulation did not start"
        os.kill(proc.pid, how)
        proc.wait(30)
        assert _wait(lambda: not _listening(port), 15), f"still listening after {how.name}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
