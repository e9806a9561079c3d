"""The Verilator core as a device: the host drives the core's Wishbone window directly.

It does what the SoC's firmware does for its commands, with the same checks: a model image is
loaded through ``gateware/model_image.writes`` (the needs record checked against the core before
anything is written), an image must have the size the model needs, CONTINUE needs a pause,
READ_MAP the layer the core paused after (or, when done, the last firing layer), RESULT a
finished run.
"""
from __future__ import annotations

import torch

from catsnn.gateware import model_image
from catsnn.gateware.core_config import (COUNTERS, CTRL_CONTINUE, CTRL_START, CTRL_STEP,
                                         INFO_REGS, REG_CTRL, REG_CYCLES, REG_STATUS,
                                         REGION_COUNTERS, REGION_IMAGE, REGION_MAP0,
                                         REGION_MAP1, REGION_MEMBRANE, REGION_REGS, STATUS_BUSY,
                                         STATUS_DONE, STATUS_PAUSED, CoreConfig, bank_address,
                                         config_from_registers, from_wide_bus_words,
                                         lane_address, word_address)
from catsnn.gateware.verilator_core import CoreSim
from catsnn.host.device import DeviceInfo, DeviceResult, DeviceStateError

MAX_CYCLES = 200_000_000      # one layer; a core that runs longer is hung


class VerilatorDevice:
    def __init__(self, cfg: CoreConfig, build_root=None, quiet=False):
        self.sim = CoreSim(cfg, build_root, quiet)
        self.cfg = config_from_registers(
            self.sim.read_block(word_address(cfg, REGION_REGS, 0), INFO_REGS))
        self.layers = 0                  # of the loaded model; 0: none
        self.image_len = 0

    def _reg(self, reg):
        return word_address(self.cfg, REGION_REGS, reg)

    def _status(self) -> int:
        return self.sim.read(self._reg(REG_STATUS))

    def _stop_wait(self) -> int:
        self.sim.run_until_stopped(MAX_CYCLES)
        return self._status()

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.cfg, f"Verilator core (P = {self.cfg.pe})")

    def load_model(self, image: bytes) -> int:
        self.layers = 0
        st = self._status()
        if st & STATUS_BUSY:
            raise DeviceStateError("core busy")
        if st & STATUS_PAUSED:      # finish a run left paused on the model it started with
            self.sim.write(self._reg(REG_CTRL), CTRL_CONTINUE)
            self._stop_wait()
        needs, writes = model_image.writes(image, self.cfg)
        self.sim.write_pairs(writes)
        self.layers, self.image_len = needs[2], needs[7]
        return self.layers

    def run(self, pixels: bytes, step: bool = False) -> int:
        if not self.layers:
            raise DeviceStateError("no model loaded")
        if len(pixels) != self.image_len:
            raise DeviceStateError(f"image of {len(pixels)} bytes, the model expects "
                                   f"{self.image_len}")
        st = self._status()
        if st & STATUS_BUSY:
            raise DeviceStateError("core busy")
        if st & STATUS_PAUSED:       # a run left paused: finish it first (as the firmware does)
            self.sim.write(self._reg(REG_CTRL), CTRL_CONTINUE)
            self._stop_wait()
        self.sim.write_block(word_address(self.cfg, REGION_IMAGE, 0), list(pixels))
        self.sim.write(self._reg(REG_CTRL), CTRL_START | (CTRL_STEP if step else 0))
        return self._stop_wait()

    def continue_(self) -> int:
        if not self._status() & STATUS_PAUSED:
            raise DeviceStateError("core is not paused")
        self.sim.write(self._reg(REG_CTRL), CTRL_CONTINUE | CTRL_STEP)
        return self._stop_wait()

    def read_map(self, layer: int, words: int) -> list[int]:
        st = self._status()
        cur = (st >> 8) & 0xFF
        if not ((st & STATUS_PAUSED and layer == cur) or
                (st & STATUS_DONE and self.layers >= 2 and layer == self.layers - 2)):
            raise DeviceStateError(f"spike map of layer {layer} not available; core at "
                                   f"layer {cur}")
        region = REGION_MAP1 if layer % 2 else REGION_MAP0
        return self.sim.read_block(lane_address(self.cfg, region, 0), words)

    def result(self, classes: int) -> DeviceResult:
        st = self._status()
        if not st & STATUS_DONE or st & STATUS_BUSY:
            raise DeviceStateError("no finished run")
        cfg, pots = self.cfg, []
        for c in range(classes):
            a = bank_address(cfg, REGION_MEMBRANE, c % cfg.pe, c // cfg.pe, cfg.membrane_depth,
                             True)
            pots += from_wide_bus_words(self.sim.read_block(a, 2))
        best = max(range(classes), key=lambda c: (pots[c], -c))
        n = len(COUNTERS)
        raw = self.sim.read_block(word_address(cfg, REGION_COUNTERS, 0), n * self.layers)
        counters = {name: [raw[i * n + j] for i in range(self.layers)]
                    for j, name in enumerate(COUNTERS)}
        return DeviceResult(best, torch.tensor(pots, dtype=torch.int64),
                            self.sim.read(self._reg(REG_CYCLES)), counters)

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass
