"""Progress of an index run: the one type the indexer reports, and the one text front ends show."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# Chunks per second the packaged model embeds on a 2-core CPU: the ETA shown before the first
# batch has measured the real rate.
NOMINAL_RATE = 20.0


@dataclass
class Progress:
    """Files and chunks done out of totals, and the current file."""

    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    source: str = ""
    started: float = field(default_factory=time.monotonic)
    phase: Literal["reading", "embedding"] = "reading"
    files_read: int = 0
    embed_started: float | None = None

    @property
    def rate(self) -> float:
        """Chunks embedded per second so far (timed from the first embedding when known)."""
        elapsed = time.monotonic() - (self.embed_started or self.started)
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

    def status_line(self) -> str:
        """The same in a reader's words (no "chunks"), with an ETA from the start of embedding.

        Before the first batch is done the ETA comes from the model's nominal rate, since the
        passages to embed are counted before any is embedded.
        """
        if self.phase == "reading":
            where = f": {self.source}" if self.source else ""
            return f"Reading files {self.files_read}/{self.files_total}{where}"
        left = self.chunks_total - self.chunks_done
        text = f"Indexing {self.files_done}/{self.files_total} files"
        if self.chunks_total:
            text += f" · {self.chunks_done}/{self.chunks_total} passages"
        if left > 0:
            eta = self.eta if self.chunks_done else left / NOMINAL_RATE
            text += f" · about {_duration(eta or 0.0)} left"
        return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


ProgressCallback = Callable[[Progress], None]
