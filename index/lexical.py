"""BM25 over the same chunks as Chroma: a tantivy index on disk, updated from the change log.

The store-wide index (:class:`LexicalStore`) lives beside the store in ``keywords/`` and is only
a cache of Chroma: it records the generation it reflects, and :meth:`LexicalStore.sync` brings
it to the store's generation by re-reading only the sources the change log names since then
(``Store.chunk_ids_since``), in one commit. A missing, damaged or foreign index, or a log that no
longer reaches back far enough, is rebuilt from Chroma instead.

Questions limited to some sources use :class:`MemoryLexical` (bm25s, built over the scope's
chunks), so their idf is the scope's, not the store's.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import StoreError
from core.types import Chunk
from index.store import Generation, Store
from index.text import tokenize

# BM25's usual constants, as tantivy and bm25s use them.
K1, B = 1.2, 0.75
FOLDER = "keywords"
_READ_BATCH = 500  # sources per Chroma read while applying changes


class Lexical(Protocol):
    """What retrieval and answering need from a keyword index."""

    generation: str

    def __len__(self) -> int: ...

    def document_frequency(self, token: str) -> int:
        """Chunks containing the (stemmed) token."""
        ...

    def idf(self, token: str) -> float:
        """BM25-style idf; tokens absent from the corpus get the highest value."""
        ...

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (only chunks sharing a term)."""
        ...


def bm25_idf(n: int, df: int) -> float:
    """Lucene's idf, as bm25s computes it (never negative, highest for unseen tokens)."""
    return math.log(1 + (max(n, 1) - df + 0.5) / (df + 0.5))


def term(token: str) -> str:
    """The indexed term of a token: itself when plain ASCII letters and digits, else hex-encoded.

    The index then splits exactly at the spaces between terms, whatever characters a token holds
    (no Unicode folding or splitting at ``_`` behind our back), and no term can mean anything
    to a query parser. Plain tokens never start with ``x``, so an encoded one cannot collide.
    """
    if token.isascii() and token.isalnum() and not token.startswith("x"):
        return token
    return "x" + token.encode().hex()


class MemoryLexical:
    """A bm25s index (stemmed, stop words removed) held in memory, for a scope's chunks."""

    def __init__(self, ids: list[str], model: object, generation: str) -> None:
        self.ids = ids
        self.generation = generation
        self._bm25 = model
        vocab: dict[str, int] = getattr(model, "vocab_dict", {}) or {}
        self._vocab = vocab
        self._df = self._document_frequencies()

    @classmethod
    def build(cls, items: Iterable[tuple[str, str]], generation: str) -> MemoryLexical:
        """Index ``(chunk_id, text)`` pairs."""
        import bm25s

        ids: list[str] = []
        corpus: list[list[str]] = []
        for chunk_id, text in items:
            ids.append(chunk_id)
            corpus.append(tokenize(text))
        model = bm25s.BM25(k1=K1, b=B)
        if ids:
            model.index(corpus, show_progress=False)
        return cls(ids, model, generation)

    def _document_frequencies(self) -> dict[str, int]:
        scores = getattr(self._bm25, "scores", None)
        if not scores or not self._vocab:
            return {}
        indptr = np.asarray(scores["indptr"])
        counts = np.diff(indptr)  # csc: one column per token
        return {tok: int(counts[i]) for tok, i in self._vocab.items() if i < len(counts)}

    def __len__(self) -> int:
        return len(self.ids)

    def document_frequency(self, token: str) -> int:
        """Chunks containing the (stemmed) token."""
        return self._df.get(token, 0)

    def idf(self, token: str) -> float:
        """BM25-style idf; tokens absent from the corpus get the highest value."""
        return bm25_idf(len(self.ids), self._df.get(token, 0))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (only chunks sharing a term)."""
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens or not self.ids:
            return []
        scores = self._bm25.get_scores(tokens)  # type: ignore[attr-defined]
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


_STATE_ID = "\x00generation"  # the one document holding the generation the index is at


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    # The chunk's text hash: the indexer finds stored chunks with a new chunk's text here.
    builder.add_text_field("hash", tokenizer_name="raw", index_option="basic")
    # Terms arrive as ``term()`` made them: split at spaces only, counted per chunk for BM25.
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("generation", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


class LexicalStore:
    """The store-wide keyword index: a tantivy index on disk, kept in step with Chroma's chunks.

    Chosen over SQLite FTS5 and bm25s by ``bench/lexical_backends.py``: at 100k chunks a query
    takes about 1 ms (block-max WAND) against 110 ms for FTS5, a change costs its own chunks
    (bm25s rebuilds everything), and SciFact nDCG@10 is within 0.003 of bm25s.

    The generation the index reflects is a document committed with the changes, so a commit
    is all or nothing: a kill before it leaves the previous state (tantivy writes segments,
    then swaps ``meta.json``). One writer at a time across processes (tantivy's lock file);
    readers never wait and see a commit after :meth:`sync` reloads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._df: dict[str, int] = {}
        self._size: int | None = None
        self.generation = ""
        self._index: Any = None
        self._open()

    def _open(self) -> None:
        """Open (creating) the index; a damaged or foreign folder is removed and started afresh."""
        import tantivy

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._index = tantivy.Index(_schema(), path=str(self.path), reuse=True)
            except ValueError:  # not an index of this schema (torn, or another program's)
                shutil.rmtree(self.path, ignore_errors=True)
                self.path.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(_schema(), path=str(self.path), reuse=True)
        except (OSError, ValueError) as exc:
            raise StoreError(f"Cannot open the keyword index {self.path}: {exc}") from exc
        self.generation = self._stored_generation()

    def _stored_generation(self) -> str:
        import tantivy

        searcher = self._index.searcher()
        query = tantivy.Query.term_query(self._index.schema, "id", _STATE_ID)
        hits = searcher.search(query, 1).hits
        if not hits:
            return ""
        return str(searcher.doc(hits[0][1])["generation"][0])

    # reading -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self._size is None:
            size = int(self._index.searcher().num_docs)
            self._size = max(0, size - (1 if self.generation else 0))
        return self._size

    def chunk_ids(self) -> set[str]:
        """Every chunk id indexed (for checks and tests)."""
        import tantivy

        searcher = self._index.searcher()
        hits = searcher.search(tantivy.Query.all_query(), max(1, searcher.num_docs)).hits
        ids = {str(searcher.doc(address)["id"][0]) for _score, address in hits}
        return ids - {_STATE_ID}

    def ids_where(self, field: str, values: Collection[str]) -> set[str]:
        """Ids of the chunks whose ``field`` (``source`` or ``hash``) is one of ``values``.

        The index holds every chunk of the store at its generation, so an index run finds a
        file's chunks here instead of filtering every chunk's metadata in Chroma (which reads
        the whole collection: 30 ms at 100k chunks, growing with the store).
        """
        import tantivy

        found: set[str] = set()
        names = sorted(values)
        searcher = self._index.searcher()
        for i in range(0, len(names), _READ_BATCH):
            query = tantivy.Query.term_set_query(
                self._index.schema, field, names[i : i + _READ_BATCH]
            )
            count = searcher.search(query, 1, count=True).count
            if count:
                hits = searcher.search(query, count).hits
                found.update(str(searcher.doc(address)["id"][0]) for _score, address in hits)
        return found

    def document_frequency(self, token: str) -> int:
        """Chunks containing the (stemmed) token (deleted ones count until segments merge)."""
        cached = self._df.get(token)
        if cached is not None:
            return cached
        df = int(self._index.searcher().doc_freq("body", term(token)))
        with self._lock:
            if len(self._df) > 100_000:
                self._df.clear()
            self._df[token] = df
        return df

    def idf(self, token: str) -> float:
        """BM25-style idf (bm25s's and tantivy's formula)."""
        return bm25_idf(len(self), self.document_frequency(token))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (only chunks sharing a term)."""
        import tantivy

        terms = sorted({term(t) for t in tokenize(query)})
        if not terms or k <= 0:
            return []
        schema = self._index.schema
        should = tantivy.Occur.Should
        parsed = tantivy.Query.boolean_query(
            [(should, tantivy.Query.term_query(schema, "body", t, "freq")) for t in terms]
        )
        searcher = self._index.searcher()
        # count=False: counting every match would switch block-max WAND off.
        hits = searcher.search(parsed, k, count=False).hits
        out = [(str(searcher.doc(a)["id"][0]), float(s)) for s, a in hits if s > 0]
        return sorted(out, key=lambda hit: (-hit[1], hit[0]))

    # writing -----------------------------------------------------------------------------------
    def sync(self, store: Store, target: Generation | None = None) -> None:
        """Bring the index to the store's generation: apply the logged changes, or rebuild.

        Raises:
            StoreError: the index cannot be written (another process kept the writer lock
                for a minute, or the disk refused).

        """
        target = target or store.generation_state()
        if target.value == self.generation:
            return
        # Another instance on this folder (the indexer, `qa index`) may have synced it already:
        # then there is nothing to write, and no writer (lock, memory) to take.
        self._index.reload()
        if self._stored_generation() != target.value:
            self._apply(store, target)
        self._index.reload()
        self.generation = target.value
        with self._lock:
            self._df.clear()
            self._size = None

    def _apply(self, store: Store, target: Generation) -> None:
        writer = self._writer()
        try:
            # Another process may have synced while this one waited for the writer lock.
            self._index.reload()
            current = self._stored_generation()
            if current != target.value:
                changes = store.chunk_ids_since(current, target) if current else None
                if changes is None:
                    writer.delete_all_documents()
                    self._add(writer, store.iter_chunks())
                else:
                    for source in changes:
                        writer.delete_documents_by_term("source", source)
                    # By id where the log lists them; by a filter on source for older entries.
                    ids = [i for listed in changes.values() if listed for i in listed]
                    self._add(writer, store.get_chunks(ids))
                    unlisted = sorted(s for s, listed in changes.items() if listed is None)
                    for i in range(0, len(unlisted), _READ_BATCH):
                        self._add(writer, store.chunks_of_sources(unlisted[i : i + _READ_BATCH]))
                self._set_generation(writer, target.value)
                writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.rollback()
            raise

    def _writer(self) -> Any:
        deadline = time.monotonic() + 60
        while True:
            try:
                return self._index.writer(heap_size=50_000_000, num_threads=1)
            except ValueError as exc:  # another process's writer holds the lock
                if time.monotonic() > deadline:
                    raise StoreError(f"Cannot update the keyword index {self.path}: {exc}") from exc
                time.sleep(0.05)

    @staticmethod
    def _add(writer: Any, chunks: Iterable[Chunk]) -> None:
        import tantivy

        for c in chunks:
            body = " ".join(term(t) for t in tokenize(c.embed_text()))
            doc = tantivy.Document(id=c.id, source=c.source, hash=c.text_hash, body=body)
            writer.add_document(doc)

    @staticmethod
    def _set_generation(writer: Any, value: str) -> None:
        import tantivy

        writer.delete_documents_by_term("id", _STATE_ID)
        writer.add_document(tantivy.Document(id=_STATE_ID, generation=value))

    def close(self) -> None:
        """Let go of the index (its files stay)."""
        self._index = None


def lexical_path(store_dir: Path) -> Path:
    """Where the keyword index of a store lives."""
    return store_dir / FOLDER


def open_lexical(store_dir: Path) -> LexicalStore:
    """The store's keyword index (created empty when absent); older caches are removed."""
    legacy = store_dir / "lexical"  # the bm25s cache of earlier versions, rebuilt in full
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
    return LexicalStore(lexical_path(store_dir))
