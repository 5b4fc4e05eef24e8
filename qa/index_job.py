"""A re-index running in a background thread, so questions are answered while it runs.

The app starts one with :meth:`IndexJob.start` and polls :meth:`IndexJob.state`; every session
of the app shares the job (one per service), so two users pressing "Re-index" start one run.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.errors import QAError
from core.progress import Progress, ProgressCallback
from core.types import IndexReport

IndexRun = Callable[[ProgressCallback], IndexReport]


@dataclass(frozen=True)
class JobState:
    """What the job is doing now, or how its last run ended."""

    running: bool = False
    progress: Progress | None = None
    report: IndexReport | None = None
    error: str | None = None
    run: int = 0  # how many runs have started: a front end tells a new result from an old one
    started: float | None = None
    finished: float | None = None


class IndexJob:
    """Runs ``run(progress)`` in a daemon thread, one run at a time.

    A start asked for while a run is under way is not lost: that run had already listed the
    files, so one more run follows it (an upload or a removal made meanwhile is indexed).
    """

    def __init__(self, run: IndexRun) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._state = JobState()
        self._thread: threading.Thread | None = None
        self._again = False

    def start(self) -> bool:
        """Start a run; when one is running, have another follow it. False in that case."""
        with self._lock:
            if self._state.running:
                self._again = True
                return False
            self._state = JobState(
                running=True,
                progress=None,
                report=None,
                error=None,
                run=self._state.run + 1,
                started=time.time(),
            )
            self._thread = threading.Thread(target=self._work, name="qa-index", daemon=True)
            self._thread.start()
            return True

    def state(self) -> JobState:
        """A snapshot of the job (safe to read from any thread)."""
        with self._lock:
            return self._state

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the current run ends (tests, the CLI); returns its final state."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state()

    def _progress(self, progress: Progress) -> None:
        snapshot = copy.copy(progress)  # the indexer keeps mutating its own object
        with self._lock:
            self._state = replace(self._state, progress=snapshot)

    def _work(self) -> None:
        while True:
            report: IndexReport | None = None
            error: str | None = "Indexing stopped unexpectedly."
            try:
                report = self._run(self._progress)
                error = None
            except QAError as exc:
                error = str(exc)
            except Exception as exc:  # a background thread must report, not vanish
                error = f"Indexing stopped unexpectedly ({exc.__class__.__name__}: {exc})."
            finally:  # even on BaseException: a job left "running" would refuse every start
                with self._lock:
                    again, self._again = self._again, False
                    self._state = replace(
                        self._state,
                        running=again,
                        report=report,
                        error=error,
                        finished=None if again else time.time(),
                        run=self._state.run + again,
                    )
            if not again:
                return
