from pathlib import Path

import pytest

from index.lock import IndexLock
from qa.errors import ConfigError, IndexBusyError


def _long_text(n: int = 30) -> str:
    return "\n\n".join(
        f"Paragraph {i} talks about topic {i} in some detail. It has a second sentence {i}. "
        f"And a third one that mentions record {i * 7} for good measure."
        for i in range(n)
    )


def test_first_index_then_unchanged_embeds_nothing(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    first = service.index()
    assert first.files["added"] == 2 and first.chunks["embedded"] > 0
    assert first.store == {"sources": 2, "chunks": first.chunks["embedded"]}
    again = service.index()
    assert again.files["unchanged"] == 2
    assert again.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert again.store == first.store


def test_edit_reembeds_only_touched_chunks(tmp_path, fake_embeddings, make_service):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "long.txt").write_text(_long_text())
    service = make_service(src, fake_embeddings)
    full = service.index()
    text = (src / "long.txt").read_text()
    (src / "long.txt").write_text(text.replace("second sentence 15.", "second, edited sentence 15."))
    edit = service.index()
    assert edit.files["changed"] == 1
    assert 1 <= edit.chunks["embedded"] <= 3
    assert edit.store["chunks"] == full.store["chunks"] - edit.chunks["deleted"] + edit.chunks["embedded"]
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
    assert report.files["removed"] == 1 and report.chunks["deleted"] > 0
    assert {c.source for c in service.store.iter_chunks()} == {"000_9bb67ea3e936fa88.txt"}


def test_bad_files_are_reported_and_good_ones_indexed(sources_dir, fake_embeddings, make_service):
    (sources_dir / "empty.txt").write_text("")
    (sources_dir / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (sources_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (sources_dir / "table.xlsx").write_bytes(b"PK\x03\x04")
    service = make_service(sources_dir, fake_embeddings)
    report = service.index()
    assert report.exit_code == 2
    failed = {e["source"]: e["error"] for e in report.errors}
    assert set(failed) == {"empty.txt", "binary.txt", "broken.pdf", "table.xlsx"}
    assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"]
    assert "unsupported" in failed["table.xlsx"]
    assert report.files["added"] == 2 and report.files["failed"] == 4


def test_a_file_that_turns_bad_keeps_its_indexed_chunks(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    before = service.index().store["chunks"]
    target = sources_dir / "000_9bb67ea3e936fa88.txt"
    target.write_bytes(b"\x00" * 50)
    report = service.index()
    assert report.errors and report.errors[0]["source"] == target.name
    assert report.store["chunks"] == before


def test_missing_sources_folder_is_a_clear_error(tmp_path, fake_embeddings, make_service):
    service = make_service(tmp_path / "nope", fake_embeddings)
    with pytest.raises(ConfigError, match="does not exist"):
        service.index()


def test_second_indexer_is_told_indexing_is_in_progress(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings)
    with IndexLock(Path(service.store_dir) / "index.lock"), pytest.raises(IndexBusyError):
        service.index()
    assert service.index().files["added"] == 2  # the lock is free again


def test_latin1_text_is_decoded(tmp_path, fake_embeddings, make_service):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "old.txt").write_bytes("Le café était très réputé à Genève.".encode("latin-1"))
    service = make_service(src, fake_embeddings)
    assert service.index().exit_code == 0
    assert "café" in service.show("old.txt").text
