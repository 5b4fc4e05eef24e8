"""Progress of an index run: the one type the indexer reports, and the one text front ends show."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Files and chunks done out of totals, and the current file."""

    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    source: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Chunks embedded per second so far."""
        elapsed = time.monotonic() - self.started
        return self.chunks_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, when known."""
        rate = self.rate
        return (self.chunks_total - self.chunks_done) / rate if rate > 0 else None

    @property
    def fraction(self) -> float:
        """Share done in [0, 1]: by chunks once there are chunks to embed, else by files."""
        if self.chunks_total:
            frac = self.chunks_done / self.chunks_total
        else:
            frac = self.files_done / (self.files_total or 1)
        return min(max(frac, 0.0), 1.0)

    def describe(self) -> str:
        """One status line: files and chunks done, rate and ETA."""
        eta = self.eta
        eta_text = f", ETA {eta:.0f}s" if eta and self.chunks_done < self.chunks_total else ""
        return (
            f"Files {self.files_done}/{self.files_total} · chunks embedded "
            f"{self.chunks_done}/{self.chunks_total} ({self.rate:.1f}/s{eta_text})"
        )


ProgressCallback = Callable[[Progress], None]
