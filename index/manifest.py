"""What the last index run saw of each file, so the next one skips unchanged files by ``stat``.

Without it every run reads every file and every source record back from the store: in a folder
of 40,000 files that alone costs seconds, however small the change. As ``git status`` and
``make`` do, a file whose size and modification time are those recorded when its bytes were
hashed is taken as unchanged, except when it was modified within :data:`RACY_SECONDS` of that
hashing (an edit in the same tick could keep both), which is hashed again.

The manifest is a cache beside the store (``manifest.sqlite3``), trusted only while the store
is at the generation the manifest was written at: any other writer, a crash or a new store moves
the generation, and the run then reads every file and record as before and rewrites it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

FILE_NAME = "manifest.sqlite3"
RACY_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    source TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    seen_ns INTEGER NOT NULL, content_hash TEXT NOT NULL, pipeline TEXT NOT NULL,
    ok INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Seen(NamedTuple):
    """One file as an index run left it (a tuple: a run loads one per file in the folder)."""

    source: str
    size: int
    mtime_ns: int
    seen_ns: int  # when its bytes were read and hashed
    content_hash: str
    pipeline: str
    ok: bool  # indexed; a failed file is tried again at every run

    def unchanged(self, st: os.stat_result, pipeline: str) -> bool:
        """True when ``st`` shows the file as it was hashed (and the pipeline is the same)."""
        racy = st.st_mtime_ns + int(RACY_SECONDS * 1e9) >= self.seen_ns
        return (
            self.ok
            and not racy
            and self.pipeline == pipeline
            and st.st_size == self.size
            and st.st_mtime_ns == self.mtime_ns
        )


class Manifest:
    """The ``manifest.sqlite3`` of a store folder."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir / FILE_NAME

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.executescript(_SCHEMA)
        return conn

    def load(self, generation: str) -> dict[str, Seen] | None:
        """Every file seen, when the manifest was written at ``generation``; else None."""
        if not generation or not self.path.exists():
            return None
        try:
            with contextlib.closing(self._connect()) as conn:
                row = conn.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
                if row is None or row[0] != generation:
                    return None
                rows = conn.execute("SELECT * FROM files").fetchall()
        except sqlite3.Error:
            return None  # unreadable: the run reads everything and writes it afresh
        return {r[0]: Seen._make(r) for r in rows}

    def source_count(self, generation: str) -> int | None:
        """The store's count of sources with chunks, as saved at ``generation``; else None.

        The count moves only with the generation, so an index run that changed nothing reports
        it from here instead of reading every source record's id from the store.
        """
        if not generation or not self.path.exists():
            return None
        try:
            with contextlib.closing(self._connect()) as conn:
                rows = dict(conn.execute("SELECT key, value FROM state").fetchall())
        except sqlite3.Error:
            return None
        if rows.get("generation") != generation or not rows.get("sources", "").isdigit():
            return None
        return int(rows["sources"])

    def save(
        self,
        generation: str,
        changed: Iterable[Seen],
        dropped: Iterable[str],
        *,
        replace: bool,
        sources: int | None = None,
    ) -> None:
        """Record the run's files and the generation it ended at (``replace``: all of them).

        ``sources``: the store's count of sources with chunks at that generation.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._save(generation, changed, dropped, replace=replace, sources=sources)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) or not replace:
                raise
            # Not a database (a torn or foreign file): it is only a cache, so start afresh.
            for suffix in ("", "-wal", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._save(generation, changed, dropped, replace=replace, sources=sources)

    def _save(
        self,
        generation: str,
        changed: Iterable[Seen],
        dropped: Iterable[str],
        *,
        replace: bool,
        sources: int | None,
    ) -> None:
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    conn.execute("DELETE FROM files")
                conn.executemany("DELETE FROM files WHERE source = ?", ((s,) for s in dropped))
                conn.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        (s.source, s.size, s.mtime_ns, s.seen_ns, s.content_hash, s.pipeline, s.ok)
                        for s in changed
                    ),
                )
                conn.execute("INSERT OR REPLACE INTO state VALUES ('generation', ?)", (generation,))
                conn.execute("DELETE FROM state WHERE key = 'sources'")
                if sources is not None:
                    conn.execute("INSERT INTO state VALUES ('sources', ?)", (str(sources),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
