"""A device that drives the core's register and memory window directly from the host.

The window is reached through a bus object (word addresses, ``core_config``'s map): the
Verilator core's Wishbone harness (``host/verilator_device.py``), or a PYNQ board's MMIO over
AXI-Lite (``host/pynq_device.py``). ``WindowDevice`` does what the SoC's firmware does for its
commands, with the same checks: a model image is loaded through ``gateware/model_image.writes``
(the needs record checked against the core before anything is written), an image must have the
size the model needs, CONTINUE needs a pause, READ_MAP the layer the core paused after (or, when
done, the last firing layer), RESULT a finished run; a run left paused is finished before a new
RUN or model load.

A bus has ``read(adr)``, ``write(adr, value)``, ``read_block(adr, n)``, ``write_block(adr,
values)`` and ``wait_stopped()`` (until the core is not busy; a hung core is an error, never a
hang); a bus of a core with external weights also has ``write_external(adr, values)`` (its
weight memory, word addresses). The buses: the Verilator harness, a PYNQ board's MMIO,
Etherbone over UDP (``host/etherbone_bus.py``). A model image is written in runs
(``model_image.spans``), so every bus loads through ``write_block``.
"""
from __future__ import annotations

import numpy as np

from catsnn.gateware import model_image
from catsnn.gateware.core_config import (COUNTERS, CTRL_CONTINUE, CTRL_START, CTRL_STEP,
                                         INFO_REGS, PROGRAM_WORDS, REG_CTRL, REG_CYCLES,
                                         REG_PROGRAM, REG_STATUS, REGION_COUNTERS, REGION_IMAGE, REGION_MAP0,
                                         REGION_MAP1, REGION_MEMBRANE, REGION_REGS, STATUS_BUSY,
                                         STATUS_DONE, STATUS_PAUSED, bank_address,
                                         config_from_registers, from_wide_bus_words,
                                         lane_address, word_address)
from catsnn.host.device import DeviceInfo, DeviceResult, DeviceStateError


class WindowDevice:
    def __init__(self, bus, description: str):
        self.bus = bus
        # the info registers are words 0.. of region 0, whatever the core's configuration
        self.cfg = config_from_registers(bus.read_block(0, INFO_REGS))
        self.description = description
        self.layers = 0                  # of the loaded model; 0: none
        self.image_len = 0

    def _reg(self, reg):
        return word_address(self.cfg, REGION_REGS, reg)

    def _status(self) -> int:
        return self.bus.read(self._reg(REG_STATUS))

    def _stop_wait(self) -> int:
        self.bus.wait_stopped()
        return self._status()

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.cfg, self.description)

    def load_model(self, image: bytes) -> int:
        self.layers = 0
        st = self._status()
        if st & STATUS_BUSY:
            raise DeviceStateError("core busy")
        if st & STATUS_PAUSED:      # finish a run left paused on the model it started with
            self.bus.write(self._reg(REG_CTRL), CTRL_CONTINUE)
            self._stop_wait()
        needs, writes, external = model_image.writes(image, self.cfg)
        for adr, words in model_image.spans(writes, self.cfg):
            self.bus.write_block(adr, words)
        for adr, words in model_image.spans(external, self.cfg):
            self.bus.write_external(adr, words)
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
            self.bus.write(self._reg(REG_CTRL), CTRL_CONTINUE)
            self._stop_wait()
        self.bus.write_block(word_address(self.cfg, REGION_IMAGE, 0), list(pixels))
        self.bus.write(self._reg(REG_CTRL), CTRL_START | (CTRL_STEP if step else 0))
        return self._stop_wait()

    def continue_(self) -> int:
        if not self._status() & STATUS_PAUSED:
            raise DeviceStateError("core is not paused")
        self.bus.write(self._reg(REG_CTRL), CTRL_CONTINUE | CTRL_STEP)
        return self._stop_wait()

    def read_map(self, layer: int, words: int) -> list[int]:
        st = self._status()
        cur = (st >> 8) & 0xFF
        if not ((st & STATUS_PAUSED and layer == cur) or
                (st & STATUS_DONE and self.layers >= 2 and layer == self.layers - 2)):
            raise DeviceStateError(f"spike map of layer {layer} not available; core at "
                                   f"layer {cur}")
        # the map the entry wrote: its program's out_map flag (word 0, bit 4)
        flags = self.bus.read(self._reg(REG_PROGRAM + PROGRAM_WORDS * layer))
        region = REGION_MAP1 if flags >> 4 & 1 else REGION_MAP0
        return self.bus.read_block(lane_address(self.cfg, region, 0), words)

    def result(self, classes: int) -> DeviceResult:
        st = self._status()
        if not st & STATUS_DONE or st & STATUS_BUSY:
            raise DeviceStateError("no finished run")
        cfg, pots = self.cfg, []
        for c in range(classes):
            a = bank_address(cfg, REGION_MEMBRANE, c % cfg.pe, c // cfg.pe, cfg.membrane_depth,
                             True)
            pots += from_wide_bus_words(self.bus.read_block(a, 2))
        best = max(range(classes), key=lambda c: (pots[c], -c))
        n = len(COUNTERS)
        raw = self.bus.read_block(word_address(cfg, REGION_COUNTERS, 0), n * self.layers)
        counters = {name: [raw[i * n + j] for i in range(self.layers)]
                    for j, name in enumerate(COUNTERS)}
        return DeviceResult(best, np.array(pots, dtype=np.int64),
                            self.bus.read(self._reg(REG_CYCLES)), counters)

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass
