"""Server mode: two app instances with their own store folders share one real Chroma server.

Everything shared (chunks, vectors, source records, the generation stamp) lives in the server;
each instance's store folder only holds caches (the lexical index, the lock file).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.errors import IndexBusyError
from core.settings import Settings
from core.types import Answer
from index.lexical import open_lexical
from index.lock import IndexLease
from qa.service import QAService
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration

_STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chroma_cli() -> Path:
    cli = Path(sys.executable).parent / "chroma"
    if not cli.exists():
        found = shutil.which("chroma")
        if found is None:
            pytest.skip("the chroma CLI (shipped with chromadb) is not installed")
        cli = Path(found)
    return cli


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    """A real ``chroma run`` on a free loopback port; stopped at the end, also on failure."""
    port = _free_port()
    log = (tmp_path / "chroma.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [str(_chroma_cli()), "run", "--path", str(tmp_path / "chroma-server"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                log.flush()
                tail = (tmp_path / "chroma.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"chroma run exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer its heartbeat within {_STARTUP_SECONDS}s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture
def shared_sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(SEEDS, folder)
    return folder


def _service(sources: Path, store: Path, url: str, **kw: object) -> QAService:
    # Fake vectors make the answerability model's confidence meaningless: plumbing only here.
    kw.setdefault("min_confidence", 0.0)
    settings = Settings(sources=sources, store=store, chroma_url=url, **kw)  # type: ignore[arg-type]
    return QAService(settings, embeddings=DeterministicFakeEmbedding(size=32))


def _assert_exact_quotes(answer: Answer, sources: Path) -> None:
    assert not answer.refused, answer.answer
    assert answer.citations
    for cit in answer.citations:
        text = (sources / cit.source).read_text(encoding="utf-8")
        assert cit.verified
        assert text[cit.start : cit.end] == cit.quote
        assert cit.quote in answer.answer


ZEPHYR = "The Zephyr Lighthouse was restored in 1887 by the harbour guild of Port Avel."
QUESTION = "Did the judge deny the preliminary injunction?"


def test_second_instance_answers_from_the_server(
    tmp_path: Path, chroma_url: str, shared_sources: Path
) -> None:
    writer = _service(shared_sources, tmp_path / "store-a", chroma_url)
    report = writer.index()
    assert report.errors == [] and report.files.added == 2
    n_chunks = report.store.chunks
    assert n_chunks > 0

    store_b = tmp_path / "store-b"
    reader = _service(shared_sources, store_b, chroma_url)
    assert not reader.needs_index()
    assert reader.store.count() == n_chunks
    assert reader.store.generation() == writer.store.generation() != ""
    assert set(reader.store.source_records()) == {p.name for p in shared_sources.iterdir()}
    answer = reader.ask(QUESTION)
    _assert_exact_quotes(answer, shared_sources)
    assert any("injunction" in c.quote for c in answer.citations)
    # Same chunks, same vectors, same lexical index: the same answer as the writer's.
    assert answer.model_dump() == writer.ask(QUESTION).model_dump()
    # B never indexed: nothing in its folder but the lexical cache built from the server.
    assert not (store_b / "chroma").exists()

    store_c = tmp_path / "store-c"
    lexical_only = _service(shared_sources, store_c, chroma_url, retriever="bm25")
    found = lexical_only.ask("What did Judge Friedrich deny?")
    # The fake model's vectors are noise, so whether it answers or refuses is not the point
    # here: the passages come from BM25 over the server's chunks, quoted exactly.
    shown = found.citations or found.related
    assert any("Friedrich denied" in c.quote for c in shown)
    for cit in shown:
        text = (shared_sources / cit.source).read_text(encoding="utf-8")
        assert cit.verified and text[cit.start : cit.end] == cit.quote
    cached = open_lexical(store_c)
    assert cached.generation == writer.store.generation()
    assert len(cached) == n_chunks


def test_reindex_from_one_instance_is_seen_by_the_other(
    tmp_path: Path, chroma_url: str, shared_sources: Path
) -> None:
    writer = _service(shared_sources, tmp_path / "store-a", chroma_url)
    writer.index()
    store_b = tmp_path / "store-b"
    reader = _service(shared_sources, store_b, chroma_url, top_k=50)
    _assert_exact_quotes(reader.ask(QUESTION), shared_sources)
    old_generation = open_lexical(store_b).generation

    (shared_sources / "zephyr.txt").write_text(ZEPHYR + "\n", encoding="utf-8")
    report = writer.index()
    assert report.files.added == 1 and report.files.unchanged == 2
    new_generation = writer.store.generation()
    assert new_generation != old_generation

    # The reader learns what changed from the change log in the server and re-reads only that,
    # by id (the log lists each changed source's chunk ids): no filter over every chunk.
    reads: list[tuple[str, list[str]]] = []
    reader_store = reader.engine.store
    real_of_sources, real_iter = reader_store.chunks_of_sources, reader_store.iter_chunks
    real_get = reader_store.get_chunks

    def by_id(ids):  # type: ignore[no-untyped-def]
        reads.append(("ids", sorted({c.source for c in real_get(ids)})))
        return real_get(ids)

    def of_sources(sources):  # type: ignore[no-untyped-def]
        reads.append(("sources", sorted(sources)))
        return real_of_sources(sources)

    def every_chunk():  # type: ignore[no-untyped-def]
        reads.append(("all", []))
        return real_iter()

    reader_store.chunks_of_sources = of_sources  # type: ignore[method-assign]
    reader_store.iter_chunks = every_chunk  # type: ignore[method-assign]
    reader_store.get_chunks = by_id  # type: ignore[method-assign]

    # Same QAService object as before the re-index: no reopen, the server is the truth.
    # The fake embedding maps equal texts to equal vectors: the new chunk must come out on top.
    hits = reader.engine.search(ZEPHYR, 1, "dense")
    assert [h.chunk.source for h in hits] == ["zephyr.txt"]
    assert hits[0].dense == pytest.approx(1.0, abs=1e-4)
    lexical_hits = reader.engine.search("Zephyr Lighthouse harbour guild", 3, "bm25")
    assert lexical_hits and lexical_hits[0].chunk.source == "zephyr.txt"
    assert reads[0] == ("ids", ["zephyr.txt"])  # the keyword index's sync
    assert all(kind == "ids" for kind, _ in reads)
    assert open_lexical(store_b).generation == new_generation

    answer = reader.ask("When was the Zephyr Lighthouse restored?")
    _assert_exact_quotes(answer, shared_sources)
    assert any(c.source == "zephyr.txt" and "1887" in c.quote for c in answer.citations)


def test_instances_on_one_server_index_one_at_a_time(
    tmp_path: Path, chroma_url: str, shared_sources: Path
) -> None:
    """The local flock cannot see another machine; the lease in the server can."""
    first = _service(shared_sources, tmp_path / "store-a", chroma_url)
    second = _service(shared_sources, tmp_path / "store-b", chroma_url)
    with IndexLease(first.store) as held:
        assert second.is_indexing()
        with pytest.raises(IndexBusyError, match=held.owner):
            second.index()
    assert not second.is_indexing()
    report = second.index()
    assert report.files.added == 2
    assert first.store.read_lease() is None  # released when the run ended


def test_a_run_with_nothing_to_write_takes_no_lease(
    tmp_path: Path, chroma_url: str, shared_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking the lease costs a second of settling; an unchanged re-index needs none."""
    service = _service(shared_sources, tmp_path / "store-a", chroma_url)
    first = service.index()
    claims: list[str] = []
    real_write = type(service.store).write_lease

    def write_lease(self, owner, expires):  # type: ignore[no-untyped-def]
        claims.append(owner)
        return real_write(self, owner, expires)

    monkeypatch.setattr(type(service.store), "write_lease", write_lease)
    again = service.index()
    assert claims == []
    assert again.files.unchanged == 2 and again.store == first.store
    # A new file, indexed first by another instance (the generation moved): the lease is taken.
    other = _service(shared_sources, tmp_path / "store-b", chroma_url)
    (shared_sources / "extra.txt").write_text("The harbour master rang the bell at noon.")
    other.index()
    service.index()
    assert claims  # the lease was taken for that run
    claims.clear()
    with IndexLease(other.store):  # a run in progress elsewhere: nothing is skipped past it
        other.store.mark_run("elsewhere")
        with pytest.raises(IndexBusyError):
            service.index()
        other.store.unmark_run()


def test_an_instance_without_the_files_verifies_quotes_from_the_server(
    tmp_path: Path, chroma_url: str, shared_sources: Path
) -> None:
    """B runs elsewhere, with its own empty sources and store folders; it never sees A's files."""
    writer = _service(shared_sources, tmp_path / "store-a", chroma_url)
    writer.index()
    elsewhere = tmp_path / "elsewhere-sources"
    elsewhere.mkdir()
    reader = _service(elsewhere, tmp_path / "store-b", chroma_url)
    answer = reader.ask(QUESTION)
    assert not answer.refused and answer.citations
    for cit in answer.citations:
        assert cit.verified
        original = (shared_sources / cit.source).read_text(encoding="utf-8")
        assert original[cit.start : cit.end] == cit.quote
        assert reader.show(cit.source).text == original
    rows = {r.source: r for r in reader.list_sources()}
    assert set(rows) == {p.name for p in shared_sources.iterdir()}
    assert all(r.status == "ok" for r in rows.values())

    # B indexes its own folder: A's sources are not B's to remove, and both are searchable.
    (elsewhere / "zephyr.txt").write_text(ZEPHYR + "\n", encoding="utf-8")
    report = reader.index()
    assert report.files.added == 1 and report.files.removed == 0
    assert set(writer.store.source_records()) == {p.name for p in shared_sources.iterdir()} | {
        "zephyr.txt"
    }
    assert not writer.ask(QUESTION).refused
    zephyr = writer.ask("When was the Zephyr Lighthouse restored?")
    assert any(c.source == "zephyr.txt" and c.verified for c in zephyr.citations)
