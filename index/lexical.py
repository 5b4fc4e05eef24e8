"""BM25 over the same chunks as Chroma: an on-disk SQLite FTS5 index updated from the change log.

The store-wide index (:class:`LexicalStore`) lives beside the store in ``lexical.sqlite3`` and is
only a cache of Chroma: it records the generation it reflects, and :meth:`LexicalStore.sync`
brings it to the store's generation by re-reading only the sources the change log names since
then (``Store.changes_since``), in one SQLite transaction. A missing, torn or foreign file, or a
log that no longer reaches back far enough, is rebuilt from Chroma instead.

Questions limited to some sources use :class:`MemoryLexical` (bm25s, built over the scope's
chunks), so their idf is the scope's, not the store's.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import StoreError
from index.store import Generation, Store
from index.text import tokenize

# BM25's usual constants; FTS5's bm25() and the bm25s fallback both use them.
K1, B = 1.2, 0.75
FILE_NAME = "lexical.sqlite3"
_SCHEMA_VERSION = "2"
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
    """The FTS5 term of a token: itself when plain ASCII letters and digits, else hex-encoded.

    FTS5's ``ascii`` tokenizer then splits exactly at the spaces between terms, whatever
    characters a token holds (no Unicode folding or splitting at ``_`` behind our back). Plain
    tokens never start with ``x``, so an encoded term cannot collide with one.
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


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS terms USING fts5(body, tokenize='ascii');
CREATE TABLE IF NOT EXISTS df(term TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO state VALUES ('schema', '{_SCHEMA_VERSION}');
"""


class LexicalStore:
    """The store-wide keyword index: SQLite FTS5 on disk, kept in step with Chroma's chunks.

    Readers query through one connection per thread (WAL: they never wait for a writer);
    :meth:`sync` writes in one ``BEGIN IMMEDIATE`` transaction, so two processes syncing at
    once apply each change once and a kill leaves the previous state.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._df: dict[str, int] = {}
        self._size: int | None = None
        self.generation = ""
        self._open()

    # connections -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "path", None) != self.path:
            conn = self._connect()
            self._local.conn, self._local.path = conn, self.path
        return conn

    def _open(self) -> None:
        """Open (creating) the file; a torn or foreign one is moved aside and started afresh."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            schema = self._state(conn, "schema")
            if schema != _SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {schema}")
            self.generation = self._state(conn, "generation") or ""
        except sqlite3.OperationalError as exc:  # locked for too long, read-only, no space
            raise StoreError(f"Cannot open the keyword index {self.path}: {exc}") from exc
        except sqlite3.DatabaseError:  # not a database, malformed, another schema: start afresh
            self._discard()
            conn = self._conn()
            conn.executescript(_SCHEMA)
            self.generation = ""

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._local.conn.close()
        self._local.conn = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _state(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # reading -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self._size is None:
            self._size = int(self._conn().execute("SELECT count(*) FROM chunks").fetchone()[0])
        return self._size

    def chunk_ids(self) -> set[str]:
        """Every chunk id indexed (for checks and tests)."""
        return {str(r[0]) for r in self._conn().execute("SELECT id FROM chunks")}

    def document_frequency(self, token: str) -> int:
        """Chunks containing the (stemmed) token."""
        cached = self._df.get(token)
        if cached is not None:
            return cached
        # Our own table, kept by sync: fts5vocab would walk the term's whole posting list.
        sql = "SELECT n FROM df WHERE term = ?"
        row = self._conn().execute(sql, (term(token),)).fetchone()
        df = 0 if row is None else int(row[0])
        with self._lock:
            if len(self._df) > 100_000:
                self._df.clear()
            self._df[token] = df
        return df

    def idf(self, token: str) -> float:
        """BM25-style idf (bm25s's formula, so features keep their scale)."""
        return bm25_idf(len(self), self.document_frequency(token))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (FTS5's bm25(), sign flipped: higher is better)."""
        terms = sorted({term(t) for t in tokenize(query)})
        if not terms or k <= 0:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        rows = (
            self._conn()
            .execute(
                "SELECT c.id, -r.score FROM (SELECT rowid, bm25(terms, ?) AS score FROM terms"
                " WHERE terms MATCH ? ORDER BY score LIMIT ?) AS r"
                " JOIN chunks AS c ON c.rowid = r.rowid ORDER BY r.score, c.id",
                (1.0, match, k),
            )
            .fetchall()
        )
        return [(str(i), float(s)) for i, s in rows if s > 0]

    # writing -----------------------------------------------------------------------------------
    def sync(self, store: Store, target: Generation | None = None) -> None:
        """Bring the index to the store's generation: apply the logged changes, or rebuild.

        Raises:
            StoreError: the lexical file cannot be written (the caller may answer without it).

        """
        target = target or store.generation_state()
        if target.value == self.generation:
            return
        try:
            self._sync(store, target)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"Cannot update the keyword index {self.path}: {exc}") from exc
        except sqlite3.DatabaseError:
            # A damaged file (the disk, another program): rebuilt from Chroma, the truth.
            self._discard()
            self._open()
            self._sync(store, target)
        self.generation = target.value
        with self._lock:
            self._df.clear()
            self._size = None

    def _sync(self, store: Store, target: Generation) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have synced while this one waited for the write lock.
            current = self._state(conn, "generation") or ""
            if current != target.value:
                changes = store.changes_since(current, target) if current else None
                if changes is None:
                    self._rebuild(conn, store)
                else:
                    self._apply(conn, store, changes)
                conn.execute(
                    "INSERT OR REPLACE INTO state VALUES ('generation', ?)", (target.value,)
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _rebuild(self, conn: sqlite3.Connection, store: Store) -> None:
        for table in ("chunks", "terms", "df"):
            conn.execute(f"DELETE FROM {table}")
        df = self._insert(conn, ((c.id, c.source, c.embed_text()) for c in store.iter_chunks()))
        conn.executemany("INSERT INTO df VALUES (?, ?)", df.items())

    def _apply(self, conn: sqlite3.Connection, store: Store, sources: Sequence[str]) -> None:
        """Re-read the chunks of each named source from Chroma (idempotent, whatever happened)."""
        delta: Counter[str] = Counter()
        for i in range(0, len(sources), _READ_BATCH):
            part = list(sources[i : i + _READ_BATCH])
            marks = ",".join("?" * len(part))
            inner = f"SELECT rowid FROM chunks WHERE source IN ({marks})"
            for (body,) in conn.execute(f"SELECT body FROM terms WHERE rowid IN ({inner})", part):
                delta.subtract(set(str(body).split()))
            conn.execute(f"DELETE FROM terms WHERE rowid IN ({inner})", part)
            conn.execute(f"DELETE FROM chunks WHERE source IN ({marks})", part)
            chunks = store.chunks_of_sources(part)
            delta.update(self._insert(conn, ((c.id, c.source, c.embed_text()) for c in chunks)))
        conn.executemany(
            "INSERT INTO df VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET n = n + excluded.n",
            [(t, n) for t, n in delta.items() if n],
        )
        conn.execute("DELETE FROM df WHERE n <= 0")

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: Iterator[tuple[str, str, str]]) -> Counter[str]:
        """Index ``(chunk_id, source, text)`` rows; return in how many of them each term is."""
        df: Counter[str] = Counter()
        for chunk_id, source, text in rows:
            cur = conn.execute("INSERT INTO chunks(id, source) VALUES (?, ?)", (chunk_id, source))
            terms = [term(t) for t in tokenize(text)]
            df.update(set(terms))
            conn.execute(
                "INSERT INTO terms(rowid, body) VALUES (?, ?)", (cur.lastrowid, " ".join(terms))
            )
        return df

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def lexical_path(store_dir: Path) -> Path:
    """Where the keyword index of a store lives."""
    return store_dir / FILE_NAME


def open_lexical(store_dir: Path) -> LexicalStore:
    """The store's keyword index (created empty when absent); the old bm25s cache is removed."""
    legacy = store_dir / "lexical"
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
    return LexicalStore(lexical_path(store_dir))
