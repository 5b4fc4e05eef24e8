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


def test_status_line_reads_files_then_counts_passages_with_an_eta_from_the_start() -> None:
    p = Progress(files_total=3, files_read=1, source="manual.pdf")
    assert p.status_line() == "Reading files 1/3: manual.pdf"
    p.phase, p.chunks_total = "embedding", 200
    p.embed_started = time.monotonic()
    # Nothing embedded yet: the ETA comes from the nominal rate (200 at 20/s), not "unknown".
    assert p.status_line() == "Indexing 0/3 files · 0/200 passages · about 10 s left"
    p.chunks_done, p.embed_started = 100, time.monotonic() - 50  # 2/s measured: 50 s left
    assert p.status_line().endswith("100/200 passages · about 50 s left")
    assert "chunk" not in p.status_line()
    p.chunks_done, p.files_done = 200, 3
    assert p.status_line() == "Indexing 3/3 files · 200/200 passages"


def test_status_line_without_passages_to_embed_counts_files_only() -> None:
    p = Progress(files_total=2, files_done=2, phase="embedding")
    assert p.status_line() == "Indexing 2/2 files"
