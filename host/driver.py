"""Runs a model on a device: the host's one implementation of the step-mode run.

``CoreDriver`` takes a model compiled for the device's core (``gateware/placement.py``:
``compile_model``; given an artifact, it compiles it), loads its model image, and runs images:
write the image and start; in step mode, after every layer, read that layer's spike map and
continue; then read the result. Every status the device reports is checked against what the
model must do, so a device that skips or repeats a layer is an error, not a different result.
No torch here: the driver also runs on a PYNQ board's ARM (``host/board_run.py``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from catsnn.errors import UserError
from catsnn.gateware.core_config import (STATUS_DONE, STATUS_PAUSED, image_bytes, spike_map,
                                         spike_map_bus_words)
from catsnn.gateware.placement import CompiledModel
from catsnn.host.device import Device

if TYPE_CHECKING:
    from catsnn.artifact import ModelArtifact


class DeviceRunError(UserError):
    pass


@dataclass
class CoreRun:
    spike_times: list          # per firing layer: uint8 (C, H, W), NO_SPIKE = 255 (step mode)
    potentials: np.ndarray     # int64 (classes,), units of 2^-F of the model
    counters: dict             # name -> list per layer
    cycles: int                # core cycles of the run (pauses excluded)


class CoreDriver:
    def __init__(self, device: Device, model: "ModelArtifact | CompiledModel"):
        self.device = device
        self.cfg = device.info().cfg
        if not isinstance(model, CompiledModel):      # refuses a model that does not fit
            from catsnn.gateware.placement import compile_model
            model = compile_model(model, self.cfg)
        if model.cfg != self.cfg:
            raise DeviceRunError(f"the model was compiled for the core {model.cfg.summary()}; "
                                 f"the device has {self.cfg.summary()}")
        self.model, self.plans = model, model.plans
        t0 = time.monotonic()
        layers = device.load_model(model.image)
        self.load_s = time.monotonic() - t0
        if layers != len(self.plans):
            raise DeviceRunError(f"device loaded {layers} layers, the model has "
                                 f"{len(self.plans)}")

    def run_image(self, pixels, with_maps: bool = False) -> CoreRun:
        """One uint8 (C, H, W) image (numpy or torch). with_maps: step mode, every firing
        layer's spike map read back after that layer."""
        dev, plans = self.device, self.plans
        st = dev.run(image_bytes(pixels), step=with_maps)
        maps = []
        if with_maps:      # a pause after every program entry (a layer, or a tile of one)
            for e, p in enumerate(plans[:-1]):
                if not st & STATUS_PAUSED or (st >> 8) & 0xFF != e:
                    raise DeviceRunError(f"device: expected a pause after program entry {e} "
                                         f"(layer {p.layer}), status {st:#x}")
                if p.fires and p.last_tile:        # the layer's whole map is written
                    whole = p.whole()
                    maps.append(spike_map(dev.read_map(e, spike_map_bus_words(whole, self.cfg.pe)),
                                          whole, self.cfg.pe))
                st = dev.continue_()
        if not st & STATUS_DONE or st & STATUS_PAUSED:
            raise DeviceRunError(f"device: run did not finish (status {st:#x})")
        r = dev.result(self.model.classes)
        if r.best != int(r.potentials.argmax()):
            raise DeviceRunError(f"device reported class {r.best}, its potentials say "
                                 f"{int(r.potentials.argmax())}")
        return CoreRun(maps, r.potentials, layer_counters(r.counters, plans), r.cycles)


def layer_counters(counters: dict, plans: list) -> dict:
    """The core's counters per program entry -> per model layer: the tiles of a layer add up,
    except its input events, which every tile scans again (the first tile's count is the
    layer's; the rescans show in the cycles)."""
    layers = plans[-1].layer + 1
    out = {name: [0] * layers for name in counters}
    for name, values in counters.items():
        for p, v in zip(plans, values):
            if name != "input_events" or p.g0 == 0:
                out[name][p.layer] += v
    return out
