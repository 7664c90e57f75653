"""A dependency-free progress bar for the CLI (a line per stage when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Bar:
    def __init__(self, title: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if self.tty:
            filled = int(self.width * fraction)
            bar = "█" * filled + "·" * (self.width - filled)
            self.stream.write(f"\r{self.title} [{bar}] {fraction:4.0%} {stage:<40.40}")
            if fraction >= 1.0:
                self.stream.write("\n")
            self.stream.flush()
        elif stage != self._last_stage:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"{self.title}: {fraction:4.0%} {stage} ({elapsed:.1f} s)\n")
            self.stream.flush()
        self._last_stage = stage

    def count(self, done: int, total: int, stage: str = "") -> None:
        if total and (done == total or done % max(1, total // 100) == 0):
            self(stage or f"{done}/{total}", done / total)
