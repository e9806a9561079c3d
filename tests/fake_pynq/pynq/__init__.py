"""A stand-in for the ``pynq`` package on a PYNQ board, for tests without a board: ``Overlay``
"loads" any bitstream and reports the core's cell; ``MMIO`` reaches the core behind its
AXI-Lite wrapper under Verilator (the C harness in $CATSNN_FAKE_PYNQ_LIB, built by
``gateware/verilator_core.AxiSim``) through ctypes alone, so a board folder runs with no
catsnn package but its own.

Each access is one AXI-Lite transaction; after each, the core runs IDLE_CYCLES more cycles:
Python on the board's ARM takes microseconds per MMIO call, hundreds of cycles at 50 MHz."""
import ctypes
import os

IDLE_CYCLES = 200

_lib = ctypes.CDLL(os.environ["CATSNN_FAKE_PYNQ_LIB"])
_lib.axi_new.restype = ctypes.c_void_p
_lib.axi_write.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
_lib.axi_write.restype = ctypes.c_int
_lib.axi_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int)]
_lib.axi_read.restype = ctypes.c_uint32
_lib.axi_idle.argtypes = [ctypes.c_void_p, ctypes.c_uint64]


class Overlay:
    def __init__(self, bitfile):
        self.ip_dict = {"catsnn_0": {"phys_addr": 0x4000_0000,
                                     "addr_range": int(os.environ["CATSNN_FAKE_PYNQ_RANGE"])}}


class MMIO:
    def __init__(self, base_addr, length):
        self.h = ctypes.c_void_p(_lib.axi_new())
        self.ok = ctypes.c_int()

    def read(self, offset):
        v = _lib.axi_read(self.h, offset, ctypes.byref(self.ok))
        assert self.ok.value, f"AXI-Lite read at {offset:#x}: no response"
        _lib.axi_idle(self.h, IDLE_CYCLES)
        return v

    def write(self, offset, value):
        assert _lib.axi_write(self.h, offset, value) == 0, f"AXI-Lite write at {offset:#x}"
        _lib.axi_idle(self.h, IDLE_CYCLES)
