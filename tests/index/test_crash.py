"""kill -9 during indexing: the store keeps answering and the next run converges to a fresh index.

Real subprocesses build a ``QAService`` with a tiny fake embedding (no model load) and index a
folder; they are SIGKILLed either at exact points between store writes (the hidden
``QA_TEST_CRASH_AFTER=N`` hook of the indexer) or at timed moments, which can fall inside a
Chroma write. Then a normal run must leave exactly what a fresh index of the same folder holds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.errors import IndexBusyError
from core.settings import IndexingSettings, Settings
from frontends.cli import commands as cli_commands
from frontends.cli import main as cli
from index import indexer
from index.chunking import chunk_source
from index.lexical import lexical_path, open_lexical
from index.loaders import load_source
from index.lock import IndexLock, lock_path
from qa.service import QAService
from tests.index.crash_store import CrashAfter

ROOT = Path(__file__).resolve().parents[2]
N_FILES = 40
# Files are written in groups of this many chunks (one Chroma call per step and group); small
# groups here give many groups, hence many points between writes to crash at.
GROUP_CHUNKS = 4

INDEX_SCRIPT = f"""
import json, os, sys, time
from langchain_core import embeddings as lc
from core.settings import Settings
from qa.service import QAService
from tests.index.crash_store import CrashAfter

class DeterministicFakeEmbedding(lc.DeterministicFakeEmbedding):  # same name: same store model
    def embed_documents(self, texts):
        time.sleep(float(os.environ.get("SLOW_EMBED", "0")))
        return super().embed_documents(texts)

started = []
def progress(p):
    if not started:
        started.append(1)
        print("started", flush=True)

service = QAService(
    Settings(indexing={{"group_chunks": {GROUP_CHUNKS}}}),
    embeddings=DeterministicFakeEmbedding(size=32),
)
crash_after = os.environ.get("QA_TEST_CRASH_AFTER", "").strip()
if crash_after:  # SIGKILL this process after that many store writes
    service.store = CrashAfter(service.store, int(crash_after))
kill_in_lexical = os.environ.get("KILL_IN_LEXICAL", "").strip()
if kill_in_lexical:  # SIGKILL this process inside the keyword index's transaction
    import signal
    from index import lexical
    real_term, calls = lexical.term, [0]
    def term(token):
        calls[0] += 1
        if calls[0] >= int(kill_in_lexical):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_term(token)
    lexical.term = term
report = service.index(progress=progress)
print(json.dumps(report.model_dump(mode="json")), flush=True)
"""

HOLD_LOCK_SCRIPT = """
import sys, time
from pathlib import Path
from index.lock import IndexLock
with IndexLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def _paragraph(i: int, j: int, version: int = 0) -> str:
    edit = f" Revised in version {version}." if version else ""
    return (
        f"Document {i} section {j} discusses the harbour of town {i * 13 + j}. "
        f"Its lighthouse was built in year {1700 + i * 7 + j}, and keepers logged storms."
        f"{edit} "
        f"The archive number of this record is {i}-{j}-{i * j + 5}. "
        f"Fishermen from village {j} traded cod and herring with merchants of port {i}."
    )


def _write_corpus(folder: Path, n: int = N_FILES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sections = 2 + i % 4
        text = "\n\n".join(_paragraph(i, j) for j in range(sections))
        (folder / f"doc_{i:03d}.txt").write_text(f"Title {i}\n\n{text}\n")


def _mutate(folder: Path) -> None:
    """Edit, delete, add and rename files: a re-index with every kind of write."""
    for i in range(0, 20, 2):  # edits: one sentence changes
        path = folder / f"doc_{i:03d}.txt"
        path.write_text(path.read_text().replace(_paragraph(i, 1), _paragraph(i, 1, version=2)))
    for i in range(30, 35):
        (folder / f"doc_{i:03d}.txt").unlink()
    for i in range(100, 105):
        (folder / f"new_{i}.txt").write_text("\n\n".join(_paragraph(i, j) for j in range(3)))
    (folder / "doc_036.txt").rename(folder / "moved_036.txt")
    # Same text inside one file: duplicate chunks get distinct, stable ids.
    (folder / "twice.txt").write_text(_paragraph(7, 7) + "\n\n" + _paragraph(7, 7) + "\n")


def _env(sources: Path, store: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QA_SOURCES=str(sources), QA_STORE=str(store), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1"
    )
    env.pop("QA_TEST_CRASH_AFTER", None)
    env.update(extra)
    return env


def _run_index(sources: Path, store: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT],
        cwd=ROOT, env=_env(sources, store, **extra), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _service(sources: Path, store: Path) -> QAService:
    return QAService(
        Settings(sources=sources, store=store), embeddings=DeterministicFakeEmbedding(size=32)
    )


def _snapshot(service: QAService) -> dict[str, tuple[str, str, int, int, int, int | None]]:
    out = {}
    for c in service.store.iter_chunks():
        out[c.id] = (c.source, c.text, c.start, c.end, c.ordinal, c.page)
    return out


def _assert_converged(sources: Path, store: Path, tmp_path: Path) -> None:
    """A normal run on the crashed store leaves exactly what a fresh index holds."""
    recovered = _service(sources, store)
    report = recovered.index()
    assert report.errors == []
    got = _snapshot(recovered)
    fresh_service = _service(sources, tmp_path / f"fresh-{time.monotonic_ns()}")
    fresh_service.index()
    want = _snapshot(fresh_service)
    assert recovered.store.count() == len(got) == len(want)  # no duplicates
    assert set(got) == set(want)  # same ids: no orphans, nothing missing
    assert got == want  # same text, offsets, ordinals
    # Every chunk matches its file as it is now.
    for source, text, start, end, _ordinal, _page in got.values():
        assert recovered.show(source).text[start:end] == text
    # Source records: exactly the files, all ok, with the right chunk counts.
    records = recovered.store.source_records()
    assert set(records) == {p.name for p in sources.iterdir()}
    assert all(r.status == "ok" for r in records.values())
    per_source: dict[str, int] = {}
    for source, *_ in got.values():
        per_source[source] = per_source.get(source, 0) + 1
    assert {s: r.chunks for s, r in records.items()} == per_source
    # The keyword index on disk is at the store's generation and holds exactly these chunks:
    # every query finds the chunks a fresh index finds. (Scores may differ a little: deleted
    # chunks count in frequencies until their segments merge.)
    lexical, fresh_lexical = open_lexical(store), open_lexical(fresh_service.store_dir)
    assert lexical.generation == recovered.store.generation()
    assert lexical.chunk_ids() == set(want)
    for query in ("lighthouse storms keepers", "cod herring merchants port 3", "version 2"):
        got_hits, want_hits = lexical.search(query, 10_000), fresh_lexical.search(query, 10_000)
        assert {i for i, _ in got_hits} == {i for i, _ in want_hits}
    # It answers, and a further run has nothing to do.
    answer = recovered.ask("Which fishermen traded cod and herring with merchants of port 3?")
    assert answer.citations or answer.related
    again = recovered.index()
    assert again.chunks.model_dump() == {"embedded": 0, "reused": 0, "deleted": 0}
    assert again.files.added == again.files.changed == again.files.removed == 0


def _assert_store_answers(sources: Path, store: Path) -> None:
    """Right after the crash, before any repair, the store opens and answers (if not empty)."""
    service = _service(sources, store)
    if service.store.count():
        # Files may have changed since: quotes of changed files are then dropped by verification,
        # so an answer may be a refusal; what matters is that search and answering work.
        service.ask("Which fishermen traded cod and herring with merchants of port 3?")
        assert service.engine.search("lighthouse keepers storms", 3, "hybrid")


def _count_writes(sources: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Store writes of one index run, counted in-process on a copy of ``store``."""
    copy = store.with_name(store.name + "-count")
    if store.exists():
        shutil.copytree(store, copy)
    service = _service(sources, copy)
    counting = CrashAfter(service.store, 10**9)
    indexer.index_sources(
        sources,
        counting,  # type: ignore[arg-type]
        service.embeddings,
        copy,
        batches=IndexingSettings(group_chunks=GROUP_CHUNKS),
    )
    return 10**9 - counting.left


# Deterministic crash points ---------------------------------------------------------------------
# As fractions of the run's writes: before the first, early, midway, just before the last.
CRASH_POINTS = [0.0, 0.05, 0.5, -1]


def _point(fraction: float, total: int) -> int:
    return total - 1 if fraction < 0 else int(fraction * total)


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_kill_during_first_index_converges(tmp_path, monkeypatch, crash_at):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    total = _count_writes(sources, store, monkeypatch)
    assert total > 20  # many groups, so the points below fall between groups and inside them
    crash_after = _point(crash_at, total)
    run = _run_index(sources, store, QA_TEST_CRASH_AFTER=str(crash_after))
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert not IndexLock.is_locked(lock_path(store)), (
        "the kernel releases the lock of a dead holder"
    )
    _assert_store_answers(sources, store)
    _assert_converged(sources, store, tmp_path)


# Re-index after edits, deletions, additions and a rename.
@pytest.mark.parametrize("crash_at", [0.05, 0.5, -1])
def test_kill_during_reindex_converges(tmp_path, monkeypatch, crash_at):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    assert _run_index(sources, store).returncode == 0
    _mutate(sources)
    total = _count_writes(sources, store, monkeypatch)
    assert total > 5
    crash_after = max(1, _point(crash_at, total))
    run = _run_index(sources, store, QA_TEST_CRASH_AFTER=str(crash_after))
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    _assert_store_answers(sources, store)
    _assert_converged(sources, store, tmp_path)


def test_kill_twice_in_a_row_then_converges(tmp_path):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    assert _run_index(sources, store, QA_TEST_CRASH_AFTER="20").returncode == -signal.SIGKILL
    _mutate(sources)
    assert _run_index(sources, store, QA_TEST_CRASH_AFTER="5").returncode == -signal.SIGKILL
    _assert_converged(sources, store, tmp_path)


# Kills inside the keyword index's update ------------------------------------------------------
@pytest.mark.parametrize("first", [True, False])
def test_kill_during_the_keyword_index_update_keeps_it_whole(tmp_path, first):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    if not first:
        assert _run_index(sources, store).returncode == 0
        before = open_lexical(store)
        old_generation, old_ids = before.generation, before.chunk_ids()
        before.close()
        _mutate(sources)
    run = _run_index(sources, store, KILL_IN_LEXICAL="40")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    # The transaction never committed: the file still holds the state before it, whole.
    after = open_lexical(store)
    if first:
        assert after.generation == "" and after.chunk_ids() == set()
    else:
        assert after.generation == old_generation and after.chunk_ids() == old_ids
    after.close()
    _assert_store_answers(sources, store)
    _assert_converged(sources, store, tmp_path)


def test_a_damaged_keyword_index_is_rebuilt_from_the_store(tmp_path):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources, 6)
    assert _run_index(sources, store).returncode == 0
    meta = lexical_path(store) / "meta.json"
    meta.write_bytes(meta.read_bytes()[:40])  # a torn index
    service = _service(sources, store)
    hits = service.engine.search("lighthouse storms keepers", 5, "bm25")
    assert hits and all("lighthouse" in h.chunk.text for h in hits)
    assert open_lexical(store).chunk_ids() == {c.id for c in service.store.iter_chunks()}


# Timed kills: may land inside a Chroma write --------------------------------------------------
@pytest.mark.parametrize("delay", [0.1, 0.5])
def test_kill_at_a_random_moment_converges(tmp_path, delay):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEX_SCRIPT],
        cwd=ROOT, env=_env(sources, store, SLOW_EMBED="0.01"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started", (
            proc.stderr.read() if proc.stderr else ""
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_store_answers(sources, store)
    _assert_converged(sources, store, tmp_path)


# One writer at a time --------------------------------------------------------------------------
def test_second_indexer_gets_a_clear_busy_error_until_the_holder_dies(
    tmp_path, monkeypatch, capsys
):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources, 3)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(lock_path(store))],
        cwd=ROOT, env=_env(sources, store), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        service = _service(sources, store)
        assert service.is_indexing()
        with pytest.raises(IndexBusyError) as busy:
            service.index()
        message = str(busy.value)
        assert "already in progress" in message and str(holder.pid) in message
        assert "answers keep working" in message
        # `qa index` says the same on one line of stderr, with exit code 1 (not a traceback).
        monkeypatch.setattr(cli_commands, "service_from", lambda args: service)
        assert cli.main(["index", "--json"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: Indexing is already in progress") and str(holder.pid) in err
        assert err.count("\n") == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert not service.is_indexing()
        assert service.index().files.added == 3  # the kernel released the dead holder's lock
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_lock_waits_for_the_holder_when_a_timeout_is_set(tmp_path):
    path = tmp_path / "store" / "index.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(path)], cwd=ROOT, env=_env(tmp_path, tmp_path),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError), IndexLock(path, timeout=0.3):
            pass
        killer_started = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        with IndexLock(path, timeout=10):
            assert path.read_text() == str(os.getpid())
        assert time.monotonic() - killer_started < 10
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_answers_keep_coming_while_another_process_reindexes(tmp_path):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources)
    reader = _service(sources, store)
    reader.index()
    question = "Which fishermen traded cod and herring with merchants of port 3?"
    assert reader.ask(question).citations
    _mutate(sources)
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEX_SCRIPT],
        cwd=ROOT, env=_env(sources, store, SLOW_EMBED="0.2"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    answered = 0
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        assert reader.is_indexing()
        while proc.poll() is None:
            answer = reader.ask(question)  # never an error; quotes of files changed since
            assert answer.answer  # the last index are dropped by verification, not shown
            answered += 1
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answered >= 2
    report = json.loads(out.strip().splitlines()[-1])
    assert report["files"]["removed"] == 6 and report["files"]["changed"] == 10
    # The long-lived reader sees the new chunk set lexically, and never a deleted record.
    assert not reader.is_indexing()
    for chunk in chunk_source(load_source(sources / "new_100.txt", sources, 10**6)):
        bm25 = reader.engine.bm25(chunk.text, 3)
        assert bm25 and bm25[0][0].id == chunk.id
    live = {c.id for c in reader.store.iter_chunks()}
    assert not any(c.source == "doc_030.txt" for c in reader.store.iter_chunks())
    gone_vector = reader.embeddings.embed_query(_paragraph(30, 0))
    assert all(c.id in live for c, _score in reader.store.query(gone_vector, 20))


def test_long_lived_reader_sees_vectors_added_by_another_process(tmp_path):
    sources, store = tmp_path / "sources", tmp_path / "store"
    _write_corpus(sources, 3)
    reader = _service(sources, store)
    reader.index()
    assert reader.store.count()
    (sources / "new.txt").write_text(_paragraph(100, 1))
    assert _run_index(sources, store).returncode == 0
    (chunk,) = chunk_source(load_source(sources / "new.txt", sources, 10**6))
    # The embedded Chroma keeps a per-process vector index; asking notices the new generation
    # written by the other process and reopens the store.
    reader.ask("What does the new paragraph say?")
    dense = reader.store.query(reader.embeddings.embed_query(chunk.text), 1)
    assert dense and dense[0][0].id == chunk.id  # the fake embedding: exact text, exact vector
