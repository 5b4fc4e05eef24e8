"""The keyword index: tantivy on disk, kept in step with Chroma by the change log."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.types import Chunk, text_hash
from index.lexical import LexicalStore, MemoryLexical, open_lexical, term
from index.store import LOG_KEEP, Store, make_client

TEXTS = {
    "a.txt": [
        "The lighthouse keeper logged every storm of the winter.",
        "Snake_case names like max_page_count appear in the SQLite documentation.",
    ],
    "b.txt": [
        "Zürich and Köln are cities; the café served crème brûlée.",
        "A xenon lamp lit the lighthouse after 1887.",
    ],
    "c.txt": ["Herring and cod were traded by fishermen of the northern ports."],
}


def _chunks(source: str, texts: list[str]) -> list[Chunk]:
    out, start = [], 0
    for i, text in enumerate(texts):
        h = text_hash(text)
        out.append(
            Chunk(
                id=Chunk.make_id(source, h, 0),
                source=source,
                start=start,
                end=start + len(text),
                text=text,
                text_hash=h,
                ordinal=i,
            )
        )
        start += len(text) + 2
    return out


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(make_client(tmp_path / "store"), "fake", 3)


def _write(store: Store, source: str, texts: list[str]) -> None:
    old = store.chunk_metadata_where("source", [source])
    store.delete_chunks(sorted(old))
    chunks = _chunks(source, texts)
    if chunks:
        store.add_chunks(chunks, [[1.0, 0.0, float(i)] for i in range(len(chunks))])
    store.log_change([source], store.generation_state())


def test_terms_survive_the_tokenizer_exactly() -> None:
    for token in ("lighthous", "max_page_count", "zürich", "xenon", "1887", "crème", "x"):
        encoded = term(token)
        assert encoded.isascii() and encoded.isalnum()
    assert term("lighthous") == "lighthous"
    assert term("xenon") != "xenon"  # plain terms never start with x: no collision possible
    assert len({term(t) for t in ("xenon", "78656e6f6e", "x78656e6f6e")}) == 3


def test_frequencies_and_idf_match_the_bm25s_index(store: Store, tmp_path: Path) -> None:
    for source, texts in TEXTS.items():
        _write(store, source, texts)
    lexical = open_lexical(tmp_path / "store")
    lexical.sync(store)
    chunks = [c for s, t in TEXTS.items() for c in _chunks(s, t)]
    memory = MemoryLexical.build(((c.id, c.embed_text()) for c in chunks), "g")
    assert len(lexical) == len(memory) == 5
    for token in ("lighthous", "max_page_count", "zürich", "xenon", "1887", "absent"):
        assert lexical.document_frequency(token) == memory.document_frequency(token), token
        assert lexical.idf(token) == pytest.approx(memory.idf(token))
    # Both rank the same chunks for a query, best first.
    for query in ("lighthouse storm", "max_page_count", "café in Zürich", "xenon 1887"):
        got = [i for i, _ in lexical.search(query, 5)]
        want = [i for i, _ in memory.search(query, 5)]
        assert got[:1] == want[:1] and set(got) == set(want), query


def test_sync_applies_only_the_logged_sources(store: Store, tmp_path: Path) -> None:
    for source, texts in TEXTS.items():
        _write(store, source, texts)
    lexical = open_lexical(tmp_path / "store")
    lexical.sync(store)
    assert lexical.generation == store.generation()

    _write(store, "b.txt", ["Only the zeppelin remains in this file."])
    _write(store, "c.txt", [])  # every chunk of c.txt deleted
    read: list[list[str]] = []
    real = store.chunks_of_sources

    def spy(sources):  # type: ignore[no-untyped-def]
        read.append(sorted(sources))
        return real(sources)

    store.chunks_of_sources = spy  # type: ignore[method-assign]
    store.iter_chunks = lambda: pytest.fail("a full read")  # type: ignore[method-assign]
    lexical.sync(store)
    assert read == [["b.txt", "c.txt"]]
    zeppelin = _chunks("b.txt", ["Only the zeppelin remains in this file."])
    assert [i for i, _ in lexical.search("zeppelin", 3)] == [zeppelin[0].id]
    assert lexical.search("herring", 3) == [] and lexical.search("xenon", 3) == []
    assert lexical.chunk_ids() == {c.id for c in _chunks("a.txt", TEXTS["a.txt"]) + zeppelin}
    assert len(lexical) == 3
    # Frequencies follow the change: new terms counted at once; a deleted chunk may still count
    # until its segment is merged (as in Lucene), never less than what is left.
    left = _chunks("a.txt", TEXTS["a.txt"]) + zeppelin
    memory = MemoryLexical.build(((c.id, c.embed_text()) for c in left), "g")
    assert lexical.document_frequency("zeppelin") == 1
    for token in ("lighthous", "xenon", "herring", "max_page_count", "storm"):
        assert lexical.document_frequency(token) >= memory.document_frequency(token), token


def _write_listed(store: Store, source: str, texts: list[str]) -> list[Chunk]:
    """As an index run writes: the log entry lists the source's chunk ids after the change."""
    old = store.chunk_metadata_where("source", [source])
    store.delete_chunks(sorted(old))
    chunks = _chunks(source, texts)
    if chunks:
        store.add_chunks(chunks, [[1.0, 0.0, float(i)] for i in range(len(chunks))])
    listed = {source: [c.id for c in chunks]}
    store.log_change([source], store.generation_state(), chunk_ids=listed)
    return chunks


def test_logged_chunk_ids_are_read_by_id_and_found_by_source_and_hash(
    store: Store, tmp_path: Path
) -> None:
    for source, texts in TEXTS.items():
        _write_listed(store, source, texts)
    lexical = open_lexical(tmp_path / "store")
    lexical.sync(store)
    start = store.generation_state()
    _write_listed(store, "b.txt", ["A first edit of b."])
    newest = _write_listed(store, "b.txt", ["The second edit of b mentions zeppelins."])
    _write_listed(store, "c.txt", [])
    # The latest entry of a source gives its ids; a removed source has none.
    assert store.chunk_ids_since(start.value, store.generation_state()) == {
        "b.txt": [newest[0].id],
        "c.txt": [],
    }
    store.chunks_of_sources = lambda s: pytest.fail("a filter over every chunk")  # type: ignore[method-assign]
    store.iter_chunks = lambda: pytest.fail("a full read")  # type: ignore[method-assign]
    lexical.sync(store)
    a_chunks = _chunks("a.txt", TEXTS["a.txt"])
    assert lexical.chunk_ids() == {c.id for c in a_chunks} | {newest[0].id}
    assert [i for i, _ in lexical.search("zeppelins", 3)] == [newest[0].id]
    assert lexical.ids_where("source", ["a.txt", "c.txt"]) == {c.id for c in a_chunks}
    assert lexical.ids_where("hash", [newest[0].text_hash, "0" * 64]) == {newest[0].id}
    assert lexical.ids_where("source", []) == set()


def test_a_log_that_cannot_tell_means_a_full_rebuild(store: Store, tmp_path: Path) -> None:
    _write(store, "a.txt", TEXTS["a.txt"])
    start = store.generation_state()
    _write(store, "b.txt", TEXTS["b.txt"])
    _write(store, "c.txt", TEXTS["c.txt"])
    # _write logs no chunk ids (an older writer): each source is listed, its ids unknown.
    changed = store.chunk_ids_since(start.value, store.generation_state())
    assert changed == {"b.txt": None, "c.txt": None}
    assert store.chunk_ids_since("", store.generation_state()) is None  # nothing to start from
    assert store.chunk_ids_since("1.feedface0000", store.generation_state()) is None  # foreign
    assert store.chunk_ids_since("0123abcd" * 3, store.generation_state()) is None  # pre-log stamp
    store.meta.delete(ids=[f"log:{start.seq + 1}"])  # a gap
    assert store.chunk_ids_since(start.value, store.generation_state()) is None
    everything = store.log_change((), store.generation_state(), everything=True)
    assert store.chunk_ids_since(store.generation_state().value, everything) is None
    assert LOG_KEEP >= 1000


def test_a_writer_and_a_second_reader_share_the_index(store: Store, tmp_path: Path) -> None:
    for source, texts in TEXTS.items():
        _write(store, source, texts)
    path = tmp_path / "store" / "keywords"
    first, second = LexicalStore(path), LexicalStore(path)
    first.sync(store)
    # The second finds the index already current: it applies nothing, reads nothing.
    store.iter_chunks = lambda: pytest.fail("a full read")  # type: ignore[method-assign]
    store.chunks_of_sources = lambda s: pytest.fail("a re-read")  # type: ignore[method-assign]
    second.sync(store)
    assert second.generation == first.generation
    assert second.search("herring cod", 2) == first.search("herring cod", 2)


def test_an_unusable_index_folder_is_a_clear_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "keywords").write_text("a file where the index folder goes")
    from core.errors import StoreError

    with pytest.raises(StoreError, match="keyword index"):
        open_lexical(folder)


def test_a_damaged_index_is_started_afresh(tmp_path: Path, store: Store) -> None:
    _write(store, "a.txt", TEXTS["a.txt"])
    lexical = open_lexical(tmp_path / "store")
    lexical.sync(store)
    (tmp_path / "store" / "keywords" / "meta.json").write_text("{not json")
    lexical = open_lexical(tmp_path / "store")
    assert lexical.generation == "" and len(lexical) == 0
    lexical.sync(store)
    assert len(lexical) == 2 and lexical.search("lighthouse", 1)


def test_the_log_keeps_its_last_entries_and_a_reader_behind_them_rebuilds(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.store as store_module

    monkeypatch.setattr(store_module, "LOG_KEEP", 4)
    monkeypatch.setattr(store_module, "_PRUNE_EVERY", 2)
    _write(store, "a.txt", TEXTS["a.txt"])
    behind = store.generation_state()
    for i in range(7):
        _write(store, "b.txt", [f"Version {i} of the zeppelin file."])
    now = store.generation_state()
    assert now.seq == 8
    kept = store.meta.get(ids=[f"log:{n}" for n in range(1, 9)], include=[])["ids"]
    assert kept == [f"log:{n}" for n in range(5, 9)]  # the last LOG_KEEP entries
    assert store.chunk_ids_since(behind.value, now) is None  # its entries are gone
    kept_start = store.meta.get(ids=["log:5"])["metadatas"][0]["value"]
    assert store.chunk_ids_since(kept_start, now) == {"b.txt": None}
    lexical = open_lexical(tmp_path / "store")  # a fresh reader: a full build
    lexical.sync(store)
    assert len(lexical) == 3 and lexical.search("zeppelin version 6", 1)
