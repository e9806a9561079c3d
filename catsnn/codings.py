"""The neural codings a model artifact may name (docs/numerics.md, "Other neural codings").

log-TTFS (the default, and the only coding the core runs) is defined by catsnn/numerics.py.
Rate, phase and burst coding are software codings: their integer semantics are run by
reference/coded_snn.py; this module holds what the artifact, the reference, the ANN twin and
the energy estimate share: the parameters, their ranges, the values a spike carries, and the F
and accumulator rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from catsnn.numerics import PIXEL_FRAC_BITS, WEIGHT_EXP_MAX

LOG_TTFS = "log-ttfs"
CODINGS = (LOG_TTFS, "rate", "phase", "burst")
MAX_WINDOW = 1024
MAX_PERIOD = 16
MAX_BURST = 10


class CodingError(ValueError):
    """A coding description that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Coding:
    name: str = LOG_TTFS
    period: int = 0        # phase: K, steps per period
    max_burst: int = 0     # burst: B, the threshold doubles at most B times in a row

    @classmethod
    def named(cls, name: str, period: int = 0, max_burst: int = 0) -> "Coding":
        """From a command line's --coding/--period/--max-burst: the parameters the coding does
        not have are dropped."""
        return cls(name, period if name == "phase" else 0, max_burst if name == "burst" else 0)

    @classmethod
    def parse(cls, obj) -> "Coding":
        """From the artifact header's ``coding`` object (or a name)."""
        if isinstance(obj, str):
            obj = {"name": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            raise CodingError("coding must be an object with a 'name' string")
        name = obj["name"]
        if name not in CODINGS:
            raise CodingError(f"coding {name!r} unknown (known: {', '.join(CODINGS)})")
        allowed = {"name"} | ({"period"} if name == "phase" else set()) | \
            ({"max_burst"} if name == "burst" else set())
        extra = set(obj) - allowed
        if extra:
            raise CodingError(f"coding {name!r} has no field {sorted(extra)[0]!r}")
        for key in allowed - {"name"}:
            v = obj.get(key)
            if not isinstance(v, int) or isinstance(v, bool):
                raise CodingError(f"coding {name!r} needs an integer {key!r}, got {v!r}")
        return cls(name, obj.get("period", 0), obj.get("max_burst", 0))

    def to_json(self) -> dict:
        out = {"name": self.name}
        if self.name == "phase":
            out["period"] = self.period
        if self.name == "burst":
            out["max_burst"] = self.max_burst
        return out

    @property
    def timed(self) -> bool:
        """A time-stepped coding (not log-TTFS)."""
        return self.name != LOG_TTFS

    def check_window(self, T: int) -> None:
        """CodingError unless T and the parameters are in range (log-TTFS: numerics.py)."""
        if not self.timed:
            return
        if not 1 <= T <= MAX_WINDOW:
            raise CodingError(f"T={T} outside 1..{MAX_WINDOW} for {self.name} coding")
        if self.name == "phase":
            if not 1 <= self.period <= MAX_PERIOD:
                raise CodingError(f"phase period K={self.period} outside 1..{MAX_PERIOD}")
            if T % self.period:
                raise CodingError(f"phase coding: T={T} is not a multiple of the period "
                                  f"K={self.period}")
        if self.name == "burst" and not 0 <= self.max_burst <= MAX_BURST:
            raise CodingError(f"burst B={self.max_burst} outside 0..{MAX_BURST}")

    # the values spikes carry, as exponents of 2 ------------------------------------------
    @property
    def unit_exp(self) -> int:
        """S = 2^-unit_exp: the smallest value a spike carries (the unit of --check totals)."""
        return self.period if self.name == "phase" else 0

    @property
    def largest_exp(self) -> int:
        """The largest value a spike carries is 2^largest_exp."""
        return {"phase": -1, "burst": self.max_burst}.get(self.name, 0)

    def frac_bits_needed(self, k_first: int, k_hidden: list[int]) -> int:
        need = [PIXEL_FRAC_BITS + WEIGHT_EXP_MAX + k_first, self.unit_exp + 1]
        need += [WEIGHT_EXP_MAX + k + self.unit_exp for k in k_hidden]
        return max(need)

    def periods(self, T: int) -> int:
        return T // self.period if self.name == "phase" else T

    def max_total(self, T: int) -> int:
        """The largest total (units of S) one neuron can emit in the window."""
        if self.name == "rate":
            return T
        if self.name == "phase":
            return (T // self.period) * ((1 << self.period) - 1)
        return sum(1 << min(t, self.max_burst) for t in range(T))
