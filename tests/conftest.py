"""Shared fixtures: the data, the shipped model, a built Verilator core, a running simulated SoC.

Data: $CATSNN_DATA, else ../shared/data beside the checkout (a folder holding
cifar-10-batches-py/). Tests marked ``slow`` build a bitstream, a simulated SoC or a wheel;
``./test.sh -m "not slow"`` leaves them out (CI runs everything)."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))     # helpers.py, spec_model.py


@pytest.fixture(scope="session")
def data() -> str:
    return os.environ.get("CATSNN_DATA", str(REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    return REPO / "models" / "compact-cifar10.catsnn"


@pytest.fixture(scope="session")
def core16():
    """The Verilator core sized for the compact model at P = 16, as a device."""
    from catsnn.gateware.core_config import CoreConfig
    from catsnn.host.verilator_device import VerilatorDevice
    return VerilatorDevice(CoreConfig.compact(16))


@pytest.fixture(scope="session")
def core5():
    """P that divides no channel count, one bus word per lane word, a wider accumulator."""
    from catsnn.gateware.core_config import CoreConfig
    from catsnn.host.verilator_device import VerilatorDevice
    return VerilatorDevice(CoreConfig.compact(5, acc_bits=44))


@pytest.fixture(scope="session")
def soc_sim():
    """A running simulated SoC (VexRiscv + the core at P = 16), built if needed."""
    from catsnn.gateware.core_config import CoreConfig
    from catsnn.host.simulation import SimulatedSoC
    with SimulatedSoC(CoreConfig.compact(16)) as s:
        yield s


def pytest_collection_modifyitems(session, config, items):
    """The ULX3S bitstream test runs last: its build runs beside the others (background_build)."""
    from background_build import TEST
    late = [i for i in items if i.nodeid.endswith(TEST.split("/", 1)[1])]
    items[:] = [i for i in items if i not in late] + late


def pytest_collection_finish(session):
    from background_build import TEST, ulx3s
    if not session.config.option.collectonly and \
            any(i.nodeid.endswith(TEST.split("/", 1)[1]) for i in session.items):
        ulx3s.start()


def pytest_sessionfinish(session, exitstatus):
    from background_build import ulx3s
    ulx3s.stop()        # a run that ends early (-x, Ctrl-C) leaves no tools running
