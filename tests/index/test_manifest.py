"""Unchanged files are skipped by stat, against the manifest of the last run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from index import indexer
from index.manifest import RACY_SECONDS, Manifest
from index.store import Store


def _text(i: int, extra: str = "") -> str:
    return (
        f"Report {i} describes the harbour of town {i}. Its lighthouse was built in {1800 + i}."
        f"{extra}\n\nFishermen of village {i} traded cod with port {i + 1}.\n"
    )


def _age(folder: Path, seconds: float = 60) -> None:
    """Date every file back, as files are in a real folder (not edited within the last tick)."""
    past = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (past, past))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "docs"
    src.mkdir()
    for i in range(8):
        (src / f"r{i}.txt").write_text(_text(i))
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    _age(src)
    return src


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    read: list[str] = []
    full: list[str] = []
    real_read = indexer.read_source_bytes

    def read_bytes(path, root, limit):  # type: ignore[no-untyped-def]
        read.append(path.name)
        return real_read(path, root, limit)

    real_records = Store.source_records

    def records(self):  # type: ignore[no-untyped-def]
        full.append("source_records")
        return real_records(self)

    monkeypatch.setattr(indexer, "read_source_bytes", read_bytes)
    monkeypatch.setattr(Store, "source_records", records)
    return read, full


def test_unchanged_files_are_not_read_again(folder, fake_embeddings, make_service, monkeypatch):
    service = make_service(folder, fake_embeddings)
    first = service.index()
    assert first.files.added == 8 and first.files.failed == 1
    assert first.store.sources == 8  # sources with chunks: the failed file has none
    read, full = _spy(monkeypatch)

    again = service.index()
    assert again.files.unchanged == 8
    assert read == ["broken.pdf"]  # a failed file is tried again; the others only stat'ed
    assert full == []  # and no record is read back from the store

    (folder / "r3.txt").write_text(_text(3, " It was rebuilt after the storm."))
    (folder / "r5.txt").unlink()
    (folder / "broken.pdf").unlink()
    read.clear()
    edit = service.index()
    assert (edit.files.changed, edit.files.removed, edit.files.unchanged) == (1, 2, 6)
    assert read == ["r3.txt"] and full == []
    records = service.store.get_source_records([f"r{i}.txt" for i in range(8)] + ["broken.pdf"])
    assert sorted(records) == [f"r{i}.txt" for i in range(8) if i != 5]
    assert any("rebuilt" in c.text for c, _ in service.engine.bm25("rebuilt storm", 3))


def test_a_file_edited_in_the_tick_it_was_read_is_hashed_again(
    folder, fake_embeddings, make_service, monkeypatch
):
    service = make_service(folder, fake_embeddings)
    service.index()
    # Same size, and the file's time set back to what the manifest holds: only its content
    # changed, right after it was read. Racy: within RACY_SECONDS of the read, so hashed.
    path = folder / "r2.txt"
    seen = Manifest(Path(service.store_dir)).load(service.store.generation())
    assert seen is not None
    entry = seen["r2.txt"]
    path.write_text(_text(2).replace("cod", "eel"))
    recent = entry.seen_ns - int(RACY_SECONDS * 1e9) // 2
    os.utime(path, ns=(recent, recent))
    assert path.stat().st_size == entry.size
    report = service.index()
    assert report.files.changed == 1
    assert any("eel" in c.text for c, _ in service.engine.bm25("eel", 3))


def test_the_manifest_is_trusted_only_at_its_generation(
    folder, fake_embeddings, make_service, monkeypatch
):
    service = make_service(folder, fake_embeddings)
    service.index()
    # Another writer (or a new store) moved the generation: every file and record is read.
    service.store.log_change(["elsewhere.txt"], service.store.generation_state())
    read, full = _spy(monkeypatch)
    report = service.index()
    assert report.files.unchanged == 8
    assert sorted(read) == sorted(p.name for p in folder.iterdir())
    assert full == ["source_records"]
    # That run rewrote the manifest at the new generation: the next one trusts it again.
    read.clear()
    full.clear()
    service.index()
    assert read == ["broken.pdf"] and full == []


def test_a_damaged_manifest_means_reading_everything(
    folder, fake_embeddings, make_service, monkeypatch
):
    service = make_service(folder, fake_embeddings)
    service.index()
    (Path(service.store_dir) / "manifest.sqlite3").write_bytes(b"garbage" * 100)
    read, _full = _spy(monkeypatch)
    report = service.index()
    assert report.files.unchanged == 8 and len(read) == 9
    read.clear()
    service.index()  # written afresh by that run: trusted again
    assert read == ["broken.pdf"]
