"""Progress lines for long work: one line updated in place on a terminal, otherwise a line at
most every ``interval`` seconds (logs and pipes stay short), and always the last one."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, interval: float = 15.0, stream=None):
        self.enabled, self.interval = enabled, interval
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = None
        self.open = False               # a terminal line without its newline yet

    def update(self, message: str, final: bool = False):
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + message + ("\n" if final else ""))
            self.open = not final
        elif final or self.last is None or now - self.last >= self.interval:
            self.stream.write(message + "\n")
        else:
            return
        self.stream.flush()
        self.last = now
