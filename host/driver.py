"""Runs a model on a device: the host's one implementation of the step-mode run.

``CoreDriver`` places the model for the device's core (``gateware/placement.py``), loads the
model image, and runs images: write the image and start; in step mode, after every layer, read
that layer's spike map and continue; then read the result. Every status the device reports is
checked against what the model must do, so a device that skips or repeats a layer is an error,
not a different result.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from catsnn.artifact import ModelArtifact
from catsnn.errors import UserError
from catsnn.gateware.core_config import (STATUS_DONE, STATUS_PAUSED, image_bytes, spike_map,
                                         spike_map_bus_words)
from catsnn.gateware.placement import model_image, plan_model
from catsnn.host.device import Device


class DeviceRunError(UserError):
    pass


@dataclass
class CoreRun:
    spike_times: list          # per firing layer: uint8 (C, H, W), NO_SPIKE = 255 (step mode)
    potentials: torch.Tensor   # int64 (classes,), units of 2^-F of the model
    counters: dict             # name -> list per layer
    cycles: int                # core cycles of the run (pauses excluded)


class CoreDriver:
    def __init__(self, device: Device, art: ModelArtifact):
        self.device, self.art = device, art
        self.cfg = device.info().cfg
        self.plans = plan_model(art, self.cfg)         # refuses a model that does not fit
        t0 = time.monotonic()
        layers = device.load_model(model_image(art, self.cfg))
        self.load_s = time.monotonic() - t0
        if layers != len(art.layers):
            raise DeviceRunError(f"device loaded {layers} layers, the model has "
                                 f"{len(art.layers)}")

    def run_image(self, pixels: torch.Tensor, with_maps: bool = False) -> CoreRun:
        """One uint8 (C, H, W) image. with_maps: step mode, every firing layer's spike map read
        back after that layer."""
        dev, layers = self.device, self.art.layers
        st = dev.run(image_bytes(pixels), step=with_maps)
        maps = []
        if with_maps:
            for i, layer in enumerate(layers[:-1]):
                if not st & STATUS_PAUSED or (st >> 8) & 0xFF != i:
                    raise DeviceRunError(f"device: expected a pause after layer {i}, "
                                         f"status {st:#x}")
                if layer.fires:
                    p = self.plans[i]
                    maps.append(spike_map(dev.read_map(i, spike_map_bus_words(p, self.cfg.pe)),
                                          p, self.cfg.pe))
                st = dev.continue_()
        if not st & STATUS_DONE or st & STATUS_PAUSED:
            raise DeviceRunError(f"device: run did not finish (status {st:#x})")
        r = dev.result(layers[-1].out_channels)
        if r.best != int(r.potentials.argmax()):
            raise DeviceRunError(f"device reported class {r.best}, its potentials say "
                                 f"{int(r.potentials.argmax())}")
        return CoreRun(maps, r.potentials, r.counters, r.cycles)
