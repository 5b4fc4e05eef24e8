import time

from core.progress import Progress


def test_progress_fraction_and_text() -> None:
    p = Progress(files_done=1, files_total=2, chunks_done=5, chunks_total=10)
    p.started = time.monotonic() - 2.5  # 5 chunks in 2.5 s: 2.0/s, 5 left: ETA 2-3 s
    assert p.fraction == 0.5
    assert p.describe().startswith("Files 1/2 · chunks embedded 5/10 (2.0/s, ETA ")
    assert p.eta is not None and 2.4 < p.eta < 2.6


def test_progress_counts_files_until_there_are_chunks() -> None:
    p = Progress(files_done=3, files_total=4)
    assert p.fraction == 0.75 and "ETA" not in p.describe()
    done = Progress(files_done=4, files_total=4, chunks_done=8, chunks_total=8)
    assert done.fraction == 1.0 and "ETA" not in done.describe()
