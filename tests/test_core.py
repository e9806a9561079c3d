"""The log-TTFS core (gateware/log_ttfs_core.py) against the reference model: random networks
and edge cases under Verilator, the shipped compact model on real CIFAR-10 images, and a tiny
network in Migen's own simulator. Every comparison is on integers, layer by layer."""
import json

import pytest
import numpy as np
import torch

from catsnn.gateware import model_image as image_format
from catsnn.gateware.core_config import (COUNTERS, PROGRAM_WORDS, CoreConfig, DoesNotFit, REG_CTRL,
                                         REG_STATUS, REGION_COUNTERS, REGION_IMAGE,
                                         REGION_MEMBRANE, REGION_REGS, STATUS_DONE, bank_address,
                                         from_wide_bus_words, image_bytes, word_address)
from catsnn.gateware.placement import model_image, plan_model
from catsnn.host.driver import CoreDriver
from catsnn.numerics import NO_SPIKE
from catsnn.reference.snn import ReferenceSNN

from helpers import random_artifact, random_images


def check_core(sim, art, images):
    """Run every image in step mode; compare every layer's spike map, the potentials and the
    event counters with the reference; fail naming the first mismatch."""
    ref = ReferenceSNN(art).run(images)
    sim = CoreDriver(sim, art)          # places the model, loads its model image
    runs = []
    for n in range(images.shape[0]):
        r = sim.run_image(images[n], with_maps=True)
        for li, (want, got) in enumerate(zip(ref.spike_times, r.spike_times)):
            want = want[n].numpy()
            if not (want == got).all():
                c, y, x = np.argwhere(want != got)[0].tolist()
                pytest.fail(f"image {n} layer {li} channel {c} position ({y}, {x}): expected "
                            f"{int(want[c, y, x])}, got {int(got[c, y, x])}")
        assert r.potentials.tolist() == ref.potentials[n].tolist(), f"image {n} potentials"
        assert r.counters["sops"] == ref.sops[n].tolist(), f"image {n} SOPs"
        assert r.counters["input_events"] == ref.input_events[n].tolist(), f"image {n} events"
        assert r.counters["output_spikes"] == ref.output_spikes[n].tolist(), f"image {n} spikes"
        assert sum(r.counters["sops"]) <= r.cycles * sim.cfg.pe
        runs.append(r)
    return ref, runs


CASES = {
    "T4": dict(spec=[4, "P", 6, "P"], T=4),
    "T8_three_convs": dict(spec=[4, 6, "P", 8, "P"], T=8),
    "T16": dict(spec=[5, "P", 6, "P"], T=16),
    "negative_k": dict(spec=[4, "P", 4, "P"], T=8, ks=[-3, -2, -1]),
    "wide_18_channels_no_pool": dict(spec=[18, 3], T=6, size=6, classes=12),
    "odd_map_10x10": dict(spec=[7, "P", 9], T=8, size=10),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_networks(core16, case):
    art = random_artifact(**CASES[case], seed=10 + sorted(CASES).index(case))
    size = art.input_shape[1]
    ref, _ = check_core(core16, art, random_images(3, size=size, seed=2))
    spiking = torch.cat([(t != NO_SPIKE).flatten() for t in ref.spike_times]).float().mean()
    assert 0.05 < spiking < 0.95, f"degenerate test network (spike fraction {spiking:.2f})"


@pytest.mark.parametrize("case", ["T8_three_convs", "wide_18_channels_no_pool"])
def test_random_networks_p5(core5, case):
    art = random_artifact(**CASES[case], seed=20 + sorted(CASES).index(case))
    check_core(core5, art, random_images(2, size=art.input_shape[1], seed=3))


def test_no_spikes_at_all(core16):
    art = random_artifact([4, "P", 4, "P"], T=8, bias_offset=-50.0, bias_scale=0.0)
    ref, runs = check_core(core16, art, random_images(2))
    assert all((t == NO_SPIKE).all() for t in ref.spike_times)
    assert runs[0].counters["sops"][1:] == [0, 0]


def test_every_neuron_spikes_at_t0_with_all_max_weights(core16):
    # all weights +2^-k, white images, huge bias: the accumulators see their worst case
    art = random_artifact([4, "P", 4, "P"], T=8, code_hi=0, zero_frac=0.0, positive_only=True,
                          bias_offset=40.0, bias_scale=0.0, ks=[0, 0, 0])
    ref, _ = check_core(core16, art, torch.full((2, 3, 8, 8), 255, dtype=torch.uint8))
    assert all((t == 0).all() for t in ref.spike_times)


def test_wide_sums_t16_64_channels(core5, core16):
    # T = 16, fan-in 576 at one magnitude: the model needs a 40-bit accumulator
    art = random_artifact([64, "P", 64, "P"], T=16, size=4, code_hi=0, zero_frac=0.0,
                          positive_only=True, bias_offset=-0.2, bias_scale=0.3, ks=[0, 0, 0])
    assert 36 < art.acc_bits <= 44
    check_core(core5, art, random_images(2, size=4))
    with pytest.raises(DoesNotFit, match="40-bit accumulator, the core has 36"):
        CoreDriver(core16, art)


def test_model_that_does_not_fit_is_refused_by_name():
    art = random_artifact([8, "P", 8, "P"], T=8)
    cfg = CoreConfig(pe=4, weight_depth=64, membrane_depth=1024, map_depth=1024)
    with pytest.raises(DoesNotFit, match=r"weights memory: needs \d+ words per bank, has 64"):
        plan_model(art, cfg)
    art.acc_bits = 40
    with pytest.raises(DoesNotFit, match="accumulator"):
        plan_model(art, CoreConfig(pe=4))


TILED = dict(membrane_depth=1024, weight_depth=2048, external_weights=True, max_layers=32)


def test_layers_too_big_for_the_core_are_split_into_tiles(shipped_model):
    """Membranes for one group of 32 x 32 positions and a 2,048-word staging buffer: the compact
    model's layers become tiles of 1 to 4 groups (uneven ones too); one group that does not fit
    is refused by name, and so is a program too long for the core."""
    import dataclasses
    from catsnn.artifact import load_artifact
    art = load_artifact(shipped_model)
    plans = plan_model(art, dataclasses.replace(CoreConfig.compact(16), **TILED))
    assert [[p.g for p in plans if p.layer == i] for i in range(7)] == \
        [[1, 1], [1, 1], [4], [3, 1], [3, 3, 2], [1] * 8, [1]]
    assert all(p.whole().g * 16 >= p.whole().cout for p in plans)
    # at P = 4 the fc layer's 3 groups of 2,048 weights each stage one at a time: fc tiles,
    # whose membranes (and map-base field) are their groups' words in the layer
    plans4 = plan_model(art, dataclasses.replace(CoreConfig.compact(4), **{**TILED,
                                                                            "max_layers": 80}))
    fc = [p for p in plans4 if p.fc]
    assert [(p.g0, p.g, p.map_base, p.membrane_words) for p in fc] == \
        [(0, 1, 0, 1), (1, 1, 1, 2), (2, 1, 2, 3)]
    assert [p.program_words(8, 10, 4)[7] >> 16 for p in fc] == [0, 1, 2]
    with pytest.raises(DoesNotFit, match="membranes memory: needs 1024 words per bank, has 512"):
        plan_model(art, dataclasses.replace(CoreConfig.compact(16), **{**TILED,
                                                                         "membrane_depth": 512}))
    with pytest.raises(DoesNotFit, match=r"needs 19 program entries \(12 more for tiles\), the "
                                         r"core's program holds 16"):
        plan_model(art, dataclasses.replace(CoreConfig.compact(16), **{**TILED,
                                                                         "max_layers": 16}))


@pytest.mark.slow
def test_tiles_are_bit_exact_on_real_images(data, shipped_model):
    """The tiled compact model on the core with its weights staged from external memory: every
    layer of 3 CIFAR-10 images equals the reference (the tiles' maps assembled, their counters
    added up)."""
    import dataclasses
    from catsnn.artifact import load_artifact
    from catsnn.data import load_split
    from catsnn.host.verilator_device import DRAM_WAIT_STATES, VerilatorDevice
    dev = VerilatorDevice(dataclasses.replace(CoreConfig.compact(16), **TILED))
    dev.bus.sim.set_external_latency(DRAM_WAIT_STATES)
    art = load_artifact(shipped_model)
    check_core(dev, art, load_split(data, train=False).images[:3])


@pytest.mark.slow
def test_fc_tiles_are_bit_exact_on_real_images(data, shipped_model):
    """P = 4 with a 2,048-word staging buffer: the fc layer runs as 3 tiles, each adding into
    its own class's membranes; 2 CIFAR-10 images equal the reference on every layer, and the
    potentials of all 10 classes."""
    import dataclasses
    from catsnn.artifact import load_artifact
    from catsnn.data import load_split
    from catsnn.host.verilator_device import DRAM_WAIT_STATES, VerilatorDevice
    cfg = dataclasses.replace(CoreConfig.compact(4), **{**TILED, "max_layers": 80})
    art = load_artifact(shipped_model)
    assert sum(p.fc for p in plan_model(art, cfg)) == 3
    dev = VerilatorDevice(cfg)
    dev.bus.sim.set_external_latency(DRAM_WAIT_STATES)
    check_core(dev, art, load_split(data, train=False).images[:2])


def test_shipped_model_20_real_images_bit_exact(core16, capsys, data, shipped_model):
    from catsnn.cli import main
    rc = main(["eval", str(shipped_model), "--backend", "core", "--data", data, "--limit", "20",
               "--check", "--json", "--quiet"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["mismatches"] == 0 and r["images"] == 20, r
    assert r["pe"] == 16 and r["cycles_per_image"] > r["sops_per_image"] / 16


def test_counters_and_cycles_add_up(core16):
    art = random_artifact(**CASES["T4"], seed=5)
    _, runs = check_core(core16, art, random_images(1))
    r = runs[0]
    # the run's cycle register counts every cycle; each layer's own counter leaves out its
    # program load (PROGRAM_WORDS + 1 cycles) and the storing of its four counters
    assert len(r.counters["cycles"]) == 3
    assert r.cycles == sum(r.counters["cycles"]) + 3 * (PROGRAM_WORDS + 1 + len(COUNTERS))
    # without step mode the same image gives the same result and counters
    again = CoreDriver(core16, art).run_image(random_images(1)[0], with_maps=False)
    assert again.potentials.tolist() == r.potentials.tolist()
    assert again.counters == r.counters


# ---------------------------------------------------------------- Migen's own simulator

def test_tiny_network_in_migen_simulator():
    """The same core, simulated by Migen (no Verilator): a 4x4 two-layer network, P = 2."""
    from migen.sim import run_simulation
    from catsnn.gateware.log_ttfs_core import LogTTFSCore

    art = random_artifact([3, "P"], T=8, size=4, classes=3, seed=4, bias_offset=0.2)
    img = random_images(1, size=4, seed=9)[0]
    cfg = CoreConfig(pe=2, weight_depth=128, bias_depth=8, membrane_depth=32, map_depth=32,
                     image_depth=48, max_layers=4, dim_bits=4)
    _, writes, _ = image_format.writes(model_image(art, cfg), cfg)     # the board format
    writes += [(word_address(cfg, REGION_IMAGE, i), p) for i, p in enumerate(image_bytes(img))]
    writes += [(word_address(cfg, REGION_REGS, REG_CTRL), 1)]
    core = LogTTFSCore(cfg)
    bus, got = core.bus, {}

    def access(adr, dat=0, we=0):
        yield bus.adr.eq(adr)
        yield bus.dat_w.eq(dat)
        yield bus.we.eq(we)
        yield bus.cyc.eq(1)
        yield bus.stb.eq(1)
        yield
        while not (yield bus.ack):
            yield
        value = yield bus.dat_r
        yield bus.cyc.eq(0)
        yield bus.stb.eq(0)
        yield
        return value

    def bench():
        for a, d in writes:
            yield from access(a, d, 1)
        for _ in range(20000):
            yield
            if not (yield core.busy):
                break
        got["status"] = yield from access(word_address(cfg, REGION_REGS, REG_STATUS))
        pots = []
        for co in range(3):
            a = bank_address(cfg, REGION_MEMBRANE, co % 2, co // 2, cfg.membrane_depth, True)
            lo = yield from access(a)
            hi = yield from access(a + 1)
            pots += from_wide_bus_words([lo, hi])
        got["potentials"] = pots
        got["counters"] = []
        for i in range(len(COUNTERS) * 2):
            got["counters"].append((yield from access(word_address(cfg, REGION_COUNTERS, i))))

    run_simulation(core, bench())
    ref = ReferenceSNN(art).run(img[None])
    assert got["status"] & STATUS_DONE
    assert got["potentials"] == ref.potentials[0].tolist()
    sops = got["counters"][COUNTERS.index("sops")::len(COUNTERS)]
    assert sops == ref.sops[0].tolist()


def test_core_has_one_control_path():
    """The core is controlled through its Wishbone window only (the firmware's path): no CSRs."""
    from migen.fhdl.verilog import convert
    from catsnn.gateware.log_ttfs_core import LogTTFSCore
    cfg = CoreConfig(pe=2, weight_depth=128, bias_depth=8, membrane_depth=32, map_depth=32,
                     image_depth=48, max_layers=4, dim_bits=4)
    core = LogTTFSCore(cfg)
    assert not hasattr(core, "get_csrs")
    assert "catsnn_core" in str(convert(LogTTFSCore(cfg), name="catsnn_core"))
