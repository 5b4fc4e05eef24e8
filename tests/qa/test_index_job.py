"""The background re-index: one run at a time, a start during a run not lost, errors kept."""

from __future__ import annotations

import threading

from core.errors import IndexBusyError
from core.progress import Progress, ProgressCallback
from core.types import IndexReport
from qa.index_job import IndexJob


def test_a_start_during_a_run_makes_one_more_run_follow() -> None:
    release = threading.Event()
    runs: list[int] = []

    def run(progress: ProgressCallback) -> IndexReport:
        runs.append(len(runs))
        progress(Progress(files_total=1))
        if len(runs) == 1:
            release.wait(10)
        return IndexReport(seconds=float(len(runs)))

    job = IndexJob(run)
    assert job.start()
    assert job.state().running and job.state().run == 1
    assert not job.start() and not job.start()  # two asks while running: one more run
    release.set()
    state = job.wait(10)
    while state.running:
        state = job.wait(10)
    assert runs == [0, 1] and state.run == 2 and state.report is not None
    assert state.report.seconds == 2.0 and state.error is None and state.finished


def test_a_failed_run_keeps_its_message_and_the_next_start_works() -> None:
    calls: list[str] = []

    def run(progress: ProgressCallback) -> IndexReport:
        calls.append("x")
        if len(calls) == 1:
            raise IndexBusyError("Another process is indexing this store; try again later.")
        if len(calls) == 2:
            raise RuntimeError("boom")
        return IndexReport()

    job = IndexJob(run)
    job.start()
    state = job.wait(10)
    assert not state.running and state.error and "Another process" in state.error
    job.start()
    state = job.wait(10)
    assert state.error == "Indexing stopped unexpectedly (RuntimeError: boom)."
    assert job.start()
    state = job.wait(10)
    assert state.error is None and state.report is not None and state.run == 3
