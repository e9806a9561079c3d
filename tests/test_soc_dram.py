"""Weights in DRAM in the simulated SoC (issue 13): the SoC with Ethernet and SDRAM (LiteDRAM on
a chip model) and a core with external weights (--port sim-dram). The host writes the weights
into the SDRAM, over Etherbone or through the firmware over the UART; the core stages each
layer from there through LiteDRAM. Needs root (the simulation's network namespace)."""
import numpy as np
import pytest

from catsnn.artifact import load_artifact
from catsnn.data import load_split
from catsnn.gateware import model_image
from catsnn.gateware.core_config import EXTERNAL_BASE
from catsnn.gateware.placement import model_image as make_model_image
from catsnn.host.device import core_config_for, open_device
from catsnn.host.driver import CoreDriver
from catsnn.host.soc_device import SocDevice
from catsnn.reference.snn import ReferenceSNN


def same_as_reference(run, ref, i):
    return (all(np.array_equal(w[i].numpy(), g) for w, g in zip(ref.spike_times, run.spike_times))
            and run.potentials.tolist() == ref.potentials[i].tolist()
            and run.counters["sops"] == ref.sops[i].tolist())


@pytest.mark.slow
def test_the_compact_model_runs_from_sdram_bit_exact(data, shipped_model):
    art = load_artifact(shipped_model)
    x = load_split(data, train=False).images[:3]
    ref = ReferenceSNN(art).run(x)
    dev = open_device("sim-dram", art=art, timeout=30)
    try:
        cfg = dev.info().cfg                       # from the core's registers
        assert cfg.external_weights and cfg == core_config_for("sim-dram", 16, art)
        drv = CoreDriver(dev, art)                 # weights over Etherbone into the SDRAM
        _, _, external = model_image.writes(make_model_image(art, cfg), cfg)
        n = len(external)
        assert [v for _, v in external[:300]] == dev.bus.read_memory(EXTERNAL_BASE, 300)
        assert [v for _, v in external[-300:]] == dev.bus.read_memory(
            EXTERNAL_BASE + 4 * (n - 300), 300)
        for i in range(2):
            r = drv.run_image(x[i], with_maps=True)
            assert same_as_reference(r, ref, i), f"image {i}"
        # the core computes with what the SDRAM holds: other weights there, other spikes
        dev.bus.write_external(0, [0] * 400)
        assert not same_as_reference(drv.run_image(x[2], with_maps=True), ref, 2)
        # the firmware loads the same model over the UART into the SDRAM (its weight records
        # go to main_ram on a core with external weights): exact again
        with dev.sim.net.inside():       # the simulation's UART socket is in its namespace
            uart = SocDevice(f"socket://127.0.0.1:{dev.sim.port}", timeout=30, progress=False)
        try:
            r = CoreDriver(uart, art).run_image(x[2], with_maps=True)
            assert same_as_reference(r, ref, 2)
        finally:
            uart.close()
    finally:
        dev.close()


def test_a_core_with_external_weights_needs_dram(shipped_model):
    from catsnn.boards.sim import sim_soc
    from catsnn.errors import UserError
    cfg = core_config_for("core-dram", 16, load_artifact(shipped_model))
    with pytest.raises(UserError, match="external weights needs DRAM"):
        sim_soc(cfg, ethernet=False)


def test_the_colorlight_i5_soc_runs_a_model_from_sdram_over_the_uart():
    """--port sim-dram:colorlight_i5: the SoC of `catsnn build --board colorlight_i5 --dram`
    (lite VexRiscv, LiteDRAM without an L2 cache, no Ethernet, the P = 2 core), its SDRAM on
    the simulation's chip model. The firmware writes the weights into the SDRAM as it loads the
    model over the UART; a model with an fc layer of 3 tiles (1,536 inputs: one group per
    2,048-word staging half) runs bit-exact, every layer of 2 images."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import random_artifact, random_images
    from test_core import check_core
    from catsnn.gateware.placement import plan_model
    art = random_artifact([24], T=8, size=8, classes=5, seed=7)
    dev = open_device("sim-dram:colorlight_i5", pe=None, timeout=30, progress=False)
    try:
        cfg = dev.info().cfg
        assert isinstance(dev, SocDevice) and cfg.pe == 2
        assert cfg == core_config_for("core-dram:colorlight_i5", None)
        assert [p.g for p in plan_model(art, cfg) if p.fc] == [1, 1, 1]
        check_core(dev, art, random_images(2, size=8, seed=4))
    finally:
        dev.close()
