"""Indexing progress on a terminal: one line of stderr, redrawn in place when it is a TTY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from core.progress import Progress, ProgressCallback


class ProgressBar:
    """Files and chunks, rate and ETA on one line (``Progress.describe``) and the current file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = ""

    def update(self, p: Progress) -> None:
        """Redraw the line (TTY), or remember the final state (pipes and files get one line)."""
        line = f"indexing: {p.describe()} {p.source[-40:]}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(len(self._last)))
            self.stream.flush()
            self._last = line[:120]
        elif p.files_done == p.files_total:
            self._last = line

    def close(self) -> None:
        """End the line."""
        if self.tty and self._last:
            self.stream.write("\n")
        elif self._last:
            self.stream.write(self._last + "\n")


@contextmanager
def progress_bar(stream: TextIO, *, quiet: bool = False) -> Iterator[ProgressCallback | None]:
    """The callback to hand the indexer, or None when ``quiet`` (JSON output); ends the line."""
    if quiet:
        yield None
        return
    bar = ProgressBar(stream)
    try:
        yield bar.update
    finally:
        bar.close()
