from pathlib import Path

import pytest

from core.errors import ConfigError, IndexBusyError
from index.lock import IndexLock


def _long_text(n: int = 30) -> str:
    return "\n\n".join(
        f"Paragraph {i} talks about topic {i} in some detail. It has a second sentence {i}. "
        f"And a third one that mentions record {i * 7} for good measure."
        for i in range(n)
    )


def _calls_to(monkeypatch, *names: str) -> list[str]:
    """The names of the ``Store`` methods among ``names`` called from now on, in order."""
    from index.store import Store

    calls: list[str] = []
    for name in names:
        original = getattr(Store, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Store, name, spy)
    return calls


def test_first_index_then_unchanged_embeds_nothing(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    first = service.index()
    assert first.files.added == 2 and first.chunks.embedded > 0
    assert first.store.model_dump() == {"sources": 2, "chunks": first.chunks.embedded}
    again = service.index()
    assert again.files.unchanged == 2
    assert again.chunks.model_dump() == {"embedded": 0, "reused": 0, "deleted": 0}
    assert again.store == first.store


def test_edit_reembeds_only_touched_chunks(tmp_path, fake_embeddings, make_service):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "long.txt").write_text(_long_text())
    service = make_service(src, fake_embeddings)
    full = service.index()
    text = (src / "long.txt").read_text()
    (src / "long.txt").write_text(
        text.replace("second sentence 15.", "second, edited sentence 15.")
    )
    edit = service.index()
    assert edit.files.changed == 1
    assert 1 <= edit.chunks.embedded <= 3
    assert edit.store.chunks == full.store.chunks - edit.chunks.deleted + edit.chunks.embedded
    # Offsets of every stored chunk still match the file.
    new_text = (src / "long.txt").read_text()
    for chunk in service.store.iter_chunks():
        assert new_text[chunk.start : chunk.end] == chunk.text


def test_removed_file_drops_its_chunks(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    service.index()
    victim = next(sources_dir.glob("004_*"))
    victim.unlink()
    report = service.index()
    assert report.files.removed == 1 and report.chunks.deleted > 0
    assert {c.source for c in service.store.iter_chunks()} == {"000_9bb67ea3e936fa88.txt"}


def test_bad_files_are_reported_and_good_ones_indexed(sources_dir, fake_embeddings, make_service):
    (sources_dir / "empty.txt").write_text("")
    (sources_dir / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (sources_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (sources_dir / "table.xlsx").write_bytes(b"PK\x03\x04")
    service = make_service(sources_dir, fake_embeddings)
    report = service.index()
    assert report.exit_code == 2
    failed = {e.source: e.error for e in report.errors}
    assert set(failed) == {"empty.txt", "binary.txt", "broken.pdf", "table.xlsx"}
    assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"]
    assert "unsupported" in failed["table.xlsx"]
    assert report.files.added == 2 and report.files.failed == 4


def test_a_file_that_turns_bad_keeps_its_indexed_chunks(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    before = service.index().store.chunks
    target = sources_dir / "000_9bb67ea3e936fa88.txt"
    target.write_bytes(b"\x00" * 50)
    report = service.index()
    assert report.errors and report.errors[0].source == target.name
    assert report.store.chunks == before


def test_missing_sources_folder_is_a_clear_error(tmp_path, fake_embeddings, make_service):
    service = make_service(tmp_path / "nope", fake_embeddings)
    with pytest.raises(ConfigError, match="does not exist"):
        service.index()


def test_second_indexer_is_told_indexing_is_in_progress(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    with IndexLock(Path(service.store_dir) / "index.lock"), pytest.raises(IndexBusyError):
        service.index()
    assert service.index().files.added == 2  # the lock is free again


def test_latin1_text_is_decoded(tmp_path, fake_embeddings, make_service):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "old.txt").write_bytes("Le café était très réputé à Genève.".encode("latin-1"))
    service = make_service(src, fake_embeddings)
    assert service.index().exit_code == 0
    assert "café" in service.show("old.txt").text


def test_crash_before_the_change_log_still_refreshes_the_lexical_index(
    tmp_path, fake_embeddings, make_service, monkeypatch
):
    # A run that wrote a file's chunks but died before logging the change: the next run finds
    # nothing to embed, yet the keyword index must still get the new chunks.
    from index.lexical import open_lexical
    from index.store import Store

    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text(_long_text(10))
    service = make_service(src, fake_embeddings)
    service.index()
    (src / "b.txt").write_text("A new file about lighthouses. It has two sentences.")

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt("killed before the log entry")

    monkeypatch.setattr(Store, "log_change", crash)
    with pytest.raises(KeyboardInterrupt):
        service.index()
    monkeypatch.undo()
    report = service.index()
    assert report.chunks.embedded == 0  # nothing left to embed...
    ids = {c.id for c in service.store.iter_chunks()}
    assert open_lexical(Path(service.store_dir)).chunk_ids() == ids  # ...but it is indexed
    assert any(c.source == "b.txt" for c, _ in service.engine.bm25("lighthouses", 3))


def test_an_edit_reads_and_rewrites_only_the_edited_file(
    tmp_path, fake_embeddings, make_service, monkeypatch
):
    # The cost of a small change must not grow with the store: no full read of the chunks'
    # metadata, no rebuild of the keyword index, only the edited source re-read.
    from index.lexical import open_lexical
    from index.store import Store

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}.txt").write_text(_long_text(4 + i))
    service = make_service(src, fake_embeddings)
    service.index()
    service.engine.bm25("topic", 3)  # the reader's keyword index is now current

    before = {c.id: (c.source, c.text_hash) for c in service.store.iter_chunks()}
    # Whole-store reads, and Chroma filters (each scans the whole collection), are not made.
    read = _calls_to(
        monkeypatch, "chunk_metadata", "iter_chunks", "chunk_metadata_where", "chunks_of_sources"
    )
    by_id: list[str] = []
    for name in ("get_chunks", "chunk_metadata_of"):
        original = getattr(Store, name)

        def ids_spy(self, ids, _original=original):
            by_id.extend(ids)
            return _original(self, ids)

        monkeypatch.setattr(Store, name, ids_spy)
    (src / "f2.txt").write_text(_long_text(5) + " A sentence about zeppelins was added.")
    (src / "f4.txt").unlink()
    report = service.index()
    assert report.files.changed == 1 and report.files.removed == 1
    assert read == []
    after = {c.id: (c.source, c.text_hash) for c in service.store.iter_chunks()}
    new_texts = {h for s, h in after.values() if s == "f2.txt"}
    # The changed files' chunks, and stored chunks with a new chunk's text (vectors reused).
    touched = {i for i, (s, h) in before.items() if s in ("f2.txt", "f4.txt") or h in new_texts}
    assert by_id and set(by_id) <= touched | set(after)
    assert len(set(by_id) - touched) <= len(new_texts)  # at most the new chunks, fetched by id
    hits = service.engine.bm25("zeppelins", 3)
    assert [c.source for c, _ in hits][:1] == ["f2.txt"]
    ids = {c.id for c in service.store.iter_chunks()}
    assert open_lexical(Path(service.store_dir)).chunk_ids() == ids
    assert not any(c.source == "f4.txt" for c, _ in service.engine.bm25("topic", 50))


def test_an_unchanged_run_reads_no_record_and_reports_the_same_totals(
    tmp_path, fake_embeddings, make_service, monkeypatch
):
    # An unchanged run in a large folder must cost the listing and the stat calls, not a read
    # of every source record or a count of every chunk; its totals are still the store's.
    src = tmp_path / "docs"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.txt").write_text(_long_text(3 + i))
    (src / "bad.txt").write_bytes(b"")
    service = make_service(src, fake_embeddings)
    first = service.index()
    assert first.store.sources == 5

    calls = _calls_to(monkeypatch, "source_records", "get_source_records", "source_count", "count")
    again = service.index()
    assert again.files.unchanged == 5 and again.files.failed == 1
    assert again.store == first.store
    assert set(calls) <= {"get_source_records"}  # the failed file's record, nothing else
    calls.clear()
    (src / "f1.txt").unlink()
    (src / "f2.txt").write_text(_long_text(9))
    moved = service.index()
    truth = (service.store.source_count(), service.store.count())
    assert (moved.store.sources, moved.store.chunks) == truth
    assert truth[0] == 4
    calls.clear()
    assert service.index().store == moved.store
    assert "source_count" not in calls and "count" not in calls


def test_without_a_keyword_index_a_run_finds_its_chunks_by_filter(
    tmp_path, fake_embeddings, make_service, monkeypatch
):
    # The keyword index is a cache: when it cannot be opened, the run filters Chroma instead
    # and reaches the same store, reusing every vector it can.
    import index.indexer
    from core.errors import StoreError

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(_long_text(4))
    service = make_service(src, fake_embeddings)
    service.index()

    def refuse(_store_dir):
        raise StoreError("keyword index unavailable")

    monkeypatch.setattr(index.indexer, "open_lexical", refuse)
    (src / "f1.txt").write_text(_long_text(4) + "\n\nA closing paragraph about zeppelins.")
    (src / "copy.txt").write_text(_long_text(4))
    report = service.index()
    assert report.files.changed == 1 and report.files.added == 1
    assert report.chunks.embedded == 1  # only the new paragraph; the copy reuses vectors
    sources = {c.source for c in service.store.iter_chunks()}
    assert sources == {"f0.txt", "f1.txt", "f2.txt", "copy.txt"}


def test_progress_reports_files_chunks_rate_and_eta(tmp_path, fake_embeddings, make_service):
    src = tmp_path / "docs"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.txt").write_text(_long_text(8 + i))
    seen = []

    def progress(p):
        seen.append((p.files_done, p.files_total, p.chunks_done, p.chunks_total, p.rate, p.eta))

    # Small model batches, so that progress is reported between the first and the last chunk.
    service = make_service(src, fake_embeddings, indexing={"embed_batch": 2})
    report = service.index(progress=progress)
    assert seen, "the callback is called"
    files_done = [s[0] for s in seen]
    chunks_done = [s[2] for s in seen]
    assert files_done == sorted(files_done) and chunks_done == sorted(chunks_done)
    last = seen[-1]
    assert last[0] == last[1] == 5
    assert last[2] == last[3] == report.chunks.embedded > 0
    assert last[4] > 0 and last[5] == 0
    midway = [s for s in seen if 0 < s[2] < s[3]]
    assert len(midway) >= 3
    assert all(s[4] > 0 and s[5] is not None and s[5] > 0 for s in midway)


def test_unexpected_converter_error_costs_one_file(
    sources_dir, fake_embeddings, make_service, monkeypatch
):
    import index.indexer as indexer

    real = indexer.load_bytes

    def flaky(rel, data, max_chars):
        if rel.endswith("bad.md"):
            raise RuntimeError("converter bug")
        return real(rel, data, max_chars)

    monkeypatch.setattr(indexer, "load_bytes", flaky)
    (sources_dir / "bad.md").write_text("# Some markdown\n\nText.")
    report = make_service(sources_dir, fake_embeddings).index()
    assert report.files.added == 2
    assert [e.model_dump() for e in report.errors] == [
        {"source": "bad.md", "error": "could not convert this file (RuntimeError: converter bug)"}
    ]


def test_renamed_file_reuses_its_vectors(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    first = service.index()
    old = next(sources_dir.glob("004_*"))
    old.rename(sources_dir / "renamed.txt")
    report = service.index()
    assert report.files.added == 1 and report.files.removed == 1
    assert report.chunks.embedded == 0  # the text is the same: its vectors are reused
    assert report.chunks.reused == report.chunks.deleted > 0
    sources = {c.source for c in service.store.iter_chunks()}
    assert sources == {"000_9bb67ea3e936fa88.txt", "renamed.txt"}
    assert report.store == first.store
