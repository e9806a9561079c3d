"""The device seam: the model image (the one format every device loads), the Verilator device's
checks (the firmware's rules), the one driver, device selection by port, and the core's sizing
without training code."""
import json
import re
import struct
import subprocess
import sys

import pytest
import torch

from catsnn.artifact import load_artifact
from catsnn.cli import main as cli_main
from catsnn.gateware import model_image as image_format
from catsnn.gateware.core_config import (COMPACT_NETWORK, RECORD_NEEDS, REGION_IMAGE,
                                         REGION_REGS, REGION_WEIGHT, CoreConfig, DoesNotFit,
                                         clog2, lane_groups)
from catsnn.gateware.placement import model_image
from catsnn.host.device import DeviceStateError, open_device
from catsnn.host.driver import CoreDriver, DeviceRunError
from catsnn.host.verilator_device import VerilatorDevice

from helpers import random_artifact, random_images


# ---------------------------------------------------------------- sizing

def test_compact_core_is_sized_from_a_constant_not_from_training_code(shipped_model):
    # the configurations the boards, the simulated SoC and the benchmarks were built with
    assert [CoreConfig.compact(pe).weight_depth for pe in (4, 5, 16, 64)] == \
        [77824, 62464, 20480, 7168]
    c16 = CoreConfig.compact(16)
    assert (c16.bias_depth, c16.membrane_depth, c16.map_depth, c16.image_depth) == \
        (32, 2048, 2048, 3072)
    from catsnn.training.net import conv_layers, fc_in_features
    assert COMPACT_NETWORK == (conv_layers("compact"), fc_in_features("compact", 32), 10, 32)
    assert CoreConfig.fitting(load_artifact(shipped_model), 16) == c16
    code = ("import sys, catsnn.gateware.log_ttfs_core, catsnn.gateware.placement, "
            "catsnn.host.verilator_device; "
            "print([m for m in sys.modules if m.startswith('catsnn.training')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the model image

def test_model_image_records_and_the_writes_a_loader_makes(shipped_model):
    art = load_artifact(shipped_model)
    cfg = CoreConfig.compact(16)
    image = model_image(art, cfg)
    records = image_format.decode_records(image)
    assert records[0][0] == RECORD_NEEDS and records[0][2][:3] == [16, art.acc_bits, 7]
    assert {r for r, _, _ in records[1:]} == {REGION_REGS, 2, REGION_WEIGHT}
    needs, writes, _ = image_format.writes(image, cfg)
    ng, gb = lane_groups(16), clog2(lane_groups(16))
    dense = [w for r, _, words in records if r == REGION_WEIGHT for w in words]
    weight_writes = [(a, w) for a, w in writes if a >> cfg.region_shift == REGION_WEIGHT]
    assert len(weight_writes) == len(dense) == needs[3] * ng
    # dense index i lands on word i // G, lane group i % G
    for i in (0, 1, 2, 3, len(dense) - 1):
        a, w = weight_writes[i]
        assert a & ((1 << cfg.region_shift) - 1) == (i // ng) << gb | i % ng and w == dense[i]


def bad_images(cfg):
    art = random_artifact([4, "P"], T=8, size=4, classes=3)
    good = model_image(art, cfg)
    needs_len = image_format.RECORD.size + 4 * image_format.NEEDS_WORDS
    wrong_p = bytearray(good)
    struct.pack_into("<I", wrong_p, image_format.RECORD.size, cfg.pe + 1)
    zero_layers = bytearray(good)
    struct.pack_into("<I", zero_layers, image_format.RECORD.size + 8, 0)
    too_many = bytearray(good)
    struct.pack_into("<I", too_many, image_format.RECORD.size + 12, 10 ** 6)
    return {
        "needs record missing": good[needs_len:],
        "built for P = 17": bytes(wrong_p),
        "weights memory: model needs 1000000": bytes(too_many),
        "record for region 1": good + image_format.encode_record(REGION_IMAGE, 0, [1, 2]),
        "record past region end": good + image_format.encode_record(
            REGION_REGS, (1 << cfg.region_shift) - 1, [0, 0]),
        "holds 2 words, the image ends": good + image_format.encode_record(
            REGION_REGS, 0, [0, 0])[:-4],
        "record header cut": good + b"\x02\0\0",
        "differs from the needs record's 2": good + image_format.encode_record(
            REGION_REGS, 2, [9]),
        "model has 0 layers, core holds 1..16": bytes(zero_layers),
        # the control register: a model image cannot start the core
        "record past region end (0 + 1)": good + image_format.encode_record(REGION_REGS, 0, [1]),
    }


@pytest.mark.parametrize("what", sorted(bad_images(CoreConfig.compact(16))))
def test_a_bad_model_image_is_refused_and_leaves_no_model(core16, what):
    image = bad_images(core16.cfg)[what]
    with pytest.raises((image_format.ModelImageError, DoesNotFit), match=re.escape(what)):
        core16.load_model(image)
    with pytest.raises(DeviceStateError, match="no model loaded"):
        core16.run(bytes(48))


# ---------------------------------------------------------------- the Verilator device

def test_verilator_device_refuses_commands_in_the_wrong_state(core16):
    art = random_artifact([4, "P", 4, "P"], T=8)
    drv = CoreDriver(core16, art)
    img = bytes(random_images(1)[0].reshape(-1).tolist())
    with pytest.raises(DeviceStateError, match="image of 10 bytes, the model expects 192"):
        core16.run(bytes(10))
    st = core16.run(img, step=False)
    with pytest.raises(DeviceStateError, match="not paused"):
        core16.continue_()
    with pytest.raises(DeviceStateError, match="spike map of layer 0 not available"):
        core16.read_map(0, 4)
    assert core16.read_map(1, 4)            # done: the last firing layer's map is readable
    assert core16.result(5).potentials.shape == (5,) and st
    core16.run(img, step=True)              # paused after layer 0
    with pytest.raises(DeviceStateError, match="no finished run"):
        core16.result(5)
    with pytest.raises(DeviceStateError, match="spike map of layer 1 not available"):
        core16.read_map(1, 4)
    while core16.continue_() & 4:           # STATUS_PAUSED: run to the end
        pass
    # the same image through the driver gives the same potentials
    assert (drv.run_image(random_images(1)[0]).potentials.tolist()
            == core16.result(5).potentials.tolist())


def test_the_driver_refuses_a_device_that_skips_a_layer(core16):
    art = random_artifact([4, "P", 4, "P"], T=8)
    drv = CoreDriver(core16, art)

    class Skipping:                          # a device whose CONTINUE runs two layers
        def __getattr__(self, name):
            return getattr(core16, name)

        def continue_(self):
            st = core16.continue_()
            return core16.continue_() if st & 4 else st
    drv.device = Skipping()
    with pytest.raises(DeviceRunError, match="expected a pause after program entry 1 \\(layer 1\\)"):
        drv.run_image(random_images(1)[0], with_maps=True)


def test_open_device_by_port(core16):
    assert isinstance(open_device("core", pe=16), VerilatorDevice)
    from catsnn.host.link import LinkError
    with pytest.raises(LinkError, match="cannot open /dev/nonexistent-catsnn"):
        open_device("/dev/nonexistent-catsnn", timeout=0.5)


def test_vgg16_on_a_core_sized_for_it_is_bit_exact(shipped_model, data, capsys):
    """The paper's network on the core's datapath (--port core-fit: memories sized for the
    model, 14 layers, 64-512 channels): one test image, every layer equal to the reference."""
    vgg16 = str(shipped_model.parent / "vgg16-cifar10.catsnn.xz")
    rc = cli_main(["eval", vgg16, "--backend", "device", "--port",
                   "core-fit", "--data", data, "--limit", "1", "--check", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "0 of 1 images differ" in out and "14 layers" in out
    cycles = int(re.search(r"cycles/image ([\d,]+)", out).group(1).replace(",", ""))
    assert 5_000_000 < cycles < 10_000_000, cycles
    with pytest.raises(Exception, match="core-fit sizes the core for a model"):
        open_device("core-fit")


def eval_cycles(argv, capsys):
    """Run `catsnn eval` (quiet, --check); its output and cycles per image."""
    rc = cli_main(["eval", *argv, "--check", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    return out, int(re.search(r"cycles/image ([\d,]+)", out).group(1).replace(",", ""))


def test_the_compact_model_through_the_dram_path(shipped_model, data, capsys):
    """--port core-dram: the core of a DRAM board (an 85F: sized for VGG-16), weights in an
    external memory model (4 wait states per read), each program entry's staged into a
    4,608-word half of its block RAM by the WeightStager while the previous entry runs, the
    32 x 32 layers in tiles of one group: every layer bit-exact, little left of the staging in
    the cycles."""
    from catsnn.gateware.core_config import INFO_REGS, config_from_registers
    from catsnn.host.device import core_config_for
    art = load_artifact(shipped_model)
    cfg = core_config_for("core-dram", 16, art)
    assert cfg.external_weights and (cfg.weight_depth, cfg.membrane_depth) == (4608, 1024)
    dev = open_device("core-dram", art=art)
    assert config_from_registers(dev.bus.read_block(0, INFO_REGS)) == cfg   # the core says so
    base = ["--data", data, "--limit", "3", "--backend", "device"]
    out, staged = eval_cycles([str(shipped_model), *base, "--port", "core-dram"], capsys)
    assert "0 of 3 images differ" in out
    _, resident = eval_cycles([str(shipped_model), *base, "--port", "core"], capsys)
    # each entry's weights are staged during the previous entry's scan: what shows is the first
    # entry's copy (27 weight words x 3 bus words, each read 2 + 4 cycles), the first two
    # layers' input scanned twice, and entries whose copy outlasts the previous scan
    assert 0 < staged - resident < 60_000, (staged, resident)


def test_the_colorlight_i5_dram_core_runs_the_compact_model(shipped_model, data, capsys):
    """--port core-dram:colorlight_i5: the core `catsnn build --board colorlight_i5 --dram`
    builds (P = 2, 2,048-word staging, the fc layer in 5 tiles), also chosen with --backend
    core: 2 images, every layer bit-exact. A port --backend core cannot run is refused."""
    rc = cli_main(["eval", str(shipped_model), "--backend", "core", "--port",
                   "core-dram:colorlight_i5", "--data", data, "--limit", "2", "--check",
                   "--json", "--quiet"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["mismatches"] == 0 and r["images"] == 2, r
    assert r["pe"] == 2 and r["cycles_per_image"] > r["sops_per_image"] / 2
    assert cli_main(["eval", str(shipped_model), "--backend", "core", "--port", "sim",
                     "--data", data, "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend core runs a Verilator core" in err[0], err


@pytest.mark.slow
def test_vgg16_through_the_dram_path(shipped_model, data, capsys):
    vgg16 = str(shipped_model.parent / "vgg16-cifar10.catsnn.xz")
    out, cycles = eval_cycles([vgg16, "--backend", "device", "--port", "core-dram", "--data",
                               data, "--limit", "1"], capsys)
    assert "0 of 1 images differ" in out and cycles > 10_000_000


def test_cli_device_backend_by_port(core16, shipped_model, data, capsys):
    rc = cli_main(["eval", str(shipped_model), "--backend", "device", "--port", "core",
                   "--data", data, "--limit", "2", "--check", "--json", "--quiet"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["mismatches"] == 0 and r["device"] == "Verilator core (P = 16)"
    assert r["backend"] == "device" and r["cycles_per_image"] > 0
    assert cli_main(["eval", str(shipped_model), "--backend", "device", "--data", data]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["catsnn: error: --backend device needs --port: 'core', 'sim', a serial "
                   "device or socket://HOST:PORT"]


def test_jobs_split_the_images_and_merge_in_order(core16, shipped_model, data, capsys):
    args = ["eval", str(shipped_model), "--backend", "core", "--data", data, "--offset", "30",
            "--limit", "5", "--check", "--json", "--quiet", "--table"]
    assert cli_main(args) == 0
    one = json.loads(capsys.readouterr().out)
    assert cli_main(args + ["--jobs", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two["mismatches"] == 0 and two["jobs"] == 2
    assert [(p["image"], p["class"], p["cycles"]) for p in two["per_image"]] == \
        [(p["image"], p["class"], p["cycles"]) for p in one["per_image"]]
    assert cli_main(args + ["--backend", "soc", "--port", "socket://127.0.0.1:9", "--jobs",
                            "2"]) == 2
    assert "--jobs 2: a link (socket://127.0.0.1:9) is one device" in capsys.readouterr().err


def test_a_device_failure_names_its_test_image(core16, shipped_model, data, monkeypatch):
    from catsnn.errors import UserError
    from catsnn.host.evaluate import evaluate
    from catsnn.data import load_split
    calls = []

    def failing(self, pixels, with_maps=False):
        calls.append(1)
        if len(calls) == 3:
            raise DeviceRunError("device: run did not finish (status 0x1)")
        return original(self, pixels, with_maps)
    original = CoreDriver.run_image
    monkeypatch.setattr(CoreDriver, "run_image", failing)
    split = load_split(data, train=False)
    with pytest.raises(UserError, match=r"^core: test image 42: device: run did not finish"):
        evaluate(load_artifact(shipped_model), "core", split.images[40:45],
                 split.labels[40:45], offset=40, progress=False)


def test_a_run_left_paused_is_finished_before_the_next_run(core16):
    """A client that goes away in step mode leaves the core paused; the next RUN finishes that
    run first (as the firmware does), then runs its own image."""
    art = random_artifact([4, "P", 4, "P"], T=8)
    drv = CoreDriver(core16, art)
    img = random_images(2)
    want = drv.run_image(img[1]).potentials
    core16.run(bytes(img[0].reshape(-1).tolist()), step=True)     # paused after layer 0
    assert drv.run_image(img[1], with_maps=True).potentials.tolist() == want.tolist()


def test_jobs_with_a_model_that_does_not_fit_is_one_error(core16, data):
    from pathlib import Path
    vgg = Path(__file__).resolve().parents[1] / "models" / "vgg16-cifar10.catsnn.xz"
    assert cli_main(["eval", str(vgg), "--backend", "core", "--jobs", "2", "--data", data,
                     "--limit", "2", "--quiet"]) == 2
