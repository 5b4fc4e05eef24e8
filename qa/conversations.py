"""Saved conversations: a small SQLite file in the store folder, beside (never inside) the index.

A conversation is a list of turns, each a question and what came back: an :class:`Answer`
(stored as its JSON, citations included) or an error sentence. The store is shared by every
Streamlit session (threads) and possibly several processes, so each call opens its own short
connection; SQLite's WAL mode and busy timeout serialise the writers.

The user's file is never deleted, replaced or "repaired": anything that does not look like a
conversations file of a version this code understands raises :class:`ConversationError` with a
sentence saying what to do, and the file is left byte for byte as it was.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConversationError
from core.types import Answer

FILENAME = "conversations.sqlite3"
SCHEMA_VERSION = 1
# Marks the file as ours (PRAGMA application_id), so another program's SQLite database (say,
# Chroma's) is recognised and refused instead of having tables added to it. ASCII "QAcv".
APPLICATION_ID = 0x51416376
TITLE_LIMIT = 80
BUSY_TIMEOUT_MS = 10_000
UNREADABLE_ANSWER = (
    "The saved answer could not be read (it was saved by another version of the app);"
    " ask the question again to get a fresh answer."
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
# The recency counter: strictly increasing across the file, unlike the clock (two writes in
# the same tick, or a clock set back), so "newest first" is always the order of the writes.
_NEXT_TOUCH = "(SELECT COALESCE(MAX(touched), 0) + 1 FROM conversations)"

_SCHEMA = (
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        renamed INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        touched INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE turns (
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        question TEXT NOT NULL,
        answer_json TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (conversation_id, position)
    )
    """,
    "CREATE INDEX conversations_by_touch ON conversations (touched DESC)",
)


@dataclass(frozen=True, slots=True)
class SavedTurn:
    """One turn: the question, and either its answer or the error sentence shown instead."""

    question: str
    answer: Answer | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of the conversation list. ``title`` is empty until the first question."""

    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A saved conversation with its turns, oldest first."""

    id: str
    title: str
    created_at: float
    updated_at: float
    turns: list[SavedTurn]


def cut_title(text: str, limit: int = TITLE_LIMIT) -> str:
    """``text`` on one line, cut to at most ``limit`` characters at a word boundary ("…" added)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    head = line[: limit - 1]
    space = head.rfind(" ")
    # A word boundary only when it keeps most of the room; one huge "word" (a URL) is cut hard.
    if space >= limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:-–—") + "…"


class ConversationStore:
    """Saved conversations in one SQLite file; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        """Open (creating if need be) the conversations file at ``path``.

        Raises :class:`ConversationError` at once when the file cannot be used, so the app can
        say so before the user types anything.
        """
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConversationError(
                f"Cannot create the folder for saved conversations {self.path.parent}: {exc}."
                " Check that the store folder is writable."
            ) from exc
        with self._connect():
            pass

    @classmethod
    def in_store(cls, store_dir: Path) -> ConversationStore:
        """The store's conversations file: ``<store_dir>/conversations.sqlite3``."""
        return cls(Path(store_dir) / FILENAME)

    # public API ---------------------------------------------------------------------------

    def create(self, title: str = "") -> str:
        """Start an empty conversation and return its id (URL-safe, for ``?c=ID``).

        A non-blank ``title`` counts as a rename: later questions do not replace it.
        """
        title = cut_title(title)
        now = time.time()
        with self._write() as db:
            while True:
                conv_id = secrets.token_urlsafe(8)
                try:
                    db.execute(
                        "INSERT INTO conversations (id, title, renamed, created_at, updated_at,"
                        f" touched) VALUES (?, ?, ?, ?, ?, {_NEXT_TOUCH})",
                        (conv_id, title, int(bool(title)), now, now),
                    )
                except sqlite3.IntegrityError:
                    continue  # an id collision (2^-64): draw another
                return conv_id

    def append(
        self,
        conv_id: str,
        question: str,
        answer: Answer | None = None,
        error: str | None = None,
    ) -> None:
        """Add a turn at the end of the conversation and mark it as the most recent.

        The first question becomes the title unless the conversation was given one.
        Raises :class:`ConversationError` when the conversation no longer exists.
        """
        answer_json = (
            json.dumps(answer.model_dump(mode="json"), ensure_ascii=False)
            if answer is not None
            else None
        )
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone()
            if row is None:
                raise _missing(conv_id)
            db.execute(
                "INSERT INTO turns (conversation_id, position, question, answer_json, error,"
                " created_at) VALUES (?, (SELECT COALESCE(MAX(position), -1) + 1 FROM turns"
                " WHERE conversation_id = ?), ?, ?, ?, ?)",
                (conv_id, conv_id, question, answer_json, error, now),
            )
            db.execute(
                f"UPDATE conversations SET updated_at = ?, touched = {_NEXT_TOUCH},"
                " title = CASE WHEN renamed = 0 AND title = '' THEN ? ELSE title END"
                " WHERE id = ?",
                (now, cut_title(question), conv_id),
            )

    def list(self, limit: int = 50) -> builtins.list[ConversationSummary]:
        """The ``limit`` most recently updated conversations, newest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id)"
                " FROM conversations c ORDER BY c.touched DESC LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def get(self, conv_id: str) -> Conversation | None:
        """The conversation with its turns, or None when there is no such id.

        A turn whose saved answer no longer validates (saved by another version) comes back
        with ``answer=None`` and ``error`` saying so: the rest of the conversation still opens.
        """
        with self._read() as db:
            head = db.execute(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?",
                (conv_id,),
            ).fetchone()
            if head is None:
                return None
            rows = db.execute(
                "SELECT question, answer_json, error FROM turns WHERE conversation_id = ?"
                " ORDER BY position",
                (conv_id,),
            ).fetchall()
        conv, title, created_at, updated_at = head
        return Conversation(conv, title, created_at, updated_at, [_turn(*row) for row in rows])

    def rename(self, conv_id: str, title: str) -> None:
        """Give the conversation a title of the user's (on one line, at most 80 characters).

        Raises :class:`ConversationError` for a blank title or an unknown conversation.
        """
        title = cut_title(title)
        if not title:
            raise ConversationError("A conversation's title cannot be blank: type a title.")
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ?, renamed = 1 WHERE id = ?", (title, conv_id)
            )
            if cursor.rowcount == 0:
                raise _missing(conv_id)

    def delete(self, conv_id: str) -> bool:
        """Delete the conversation and its turns; False when there was no such conversation."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
            return cursor.rowcount > 0

    # connections ------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One transaction, so a conversation's head and turns are read from the same snapshot.
        with self._connect() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")  # nothing was written: ending the snapshot is all

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: reading MAX(position) and inserting after it
        # cannot interleave with another writer, so concurrent appends lose no turn.
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may already have rolled back (disk full, ...)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection to a checked file (schema created when the file is new).

        A connection per call: sqlite3 connections must not be shared between threads, and a
        short one holds no lock between the user's actions.
        """
        self._check_header()
        try:
            # isolation_level=None: transactions are begun explicitly (see _read/_write).
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")  # per connection: the CASCADE needs it
            self._ensure_schema(db)
            yield db
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            db.close()

    def _check_header(self) -> None:
        # SQLite opens a short non-database file as an empty database and would then write
        # our schema over it: refuse anything that is not empty and not an SQLite file.
        try:
            with self.path.open("rb") as handle:
                head = handle.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConversationError(
                f"Cannot read the saved conversations file {self.path}: {exc}."
                " Check its permissions."
            ) from exc
        if head and head != _SQLITE_MAGIC:
            raise self._corrupt()

    def _ensure_schema(self, db: sqlite3.Connection) -> None:
        version = self._version(db)
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            # Again under the write lock: another thread or process may have just created it.
            version = self._version(db)
            if version == 0:
                if db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                    raise self._foreign()
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if version == 0:
            # Persistent, so set once; outside the transaction, as SQLite requires.
            db.execute("PRAGMA journal_mode = WAL")

    def _version(self, db: sqlite3.Connection) -> int:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        application = int(db.execute("PRAGMA application_id").fetchone()[0])
        if version > SCHEMA_VERSION and application == APPLICATION_ID:
            raise ConversationError(
                f"The saved conversations file {self.path} was written by a newer version of"
                f" this app (schema {version}; this one reads up to {SCHEMA_VERSION})."
                " Upgrade the app to open it; the file was left unchanged."
            )
        if version and application != APPLICATION_ID:
            raise self._foreign()
        return version

    # errors -----------------------------------------------------------------------------

    def _corrupt(self) -> ConversationError:
        return ConversationError(
            f"The saved conversations file {self.path} is damaged or is not a conversations"
            " file. It was left unchanged: move it aside (or delete it) to start a new one."
        )

    def _foreign(self) -> ConversationError:
        return ConversationError(
            f"{self.path} is an SQLite database of another program, not saved conversations."
            " It was left unchanged: point the app at another file."
        )

    def _error(self, exc: sqlite3.Error) -> ConversationError:
        code = getattr(exc, "sqlite_errorname", "")
        text = str(exc)
        if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "malformed" in text:
            return self._corrupt()
        if code == "SQLITE_BUSY" or "locked" in text:
            return ConversationError(
                f"The saved conversations file {self.path} is busy (another process is"
                " writing it). Try again in a moment."
            )
        if code in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM") or "readonly" in text:
            return ConversationError(
                f"Cannot open or write the saved conversations file {self.path} ({exc})."
                " Check that it and its folder are writable."
            )
        return ConversationError(
            f"Could not read or save conversations in {self.path}: {exc}."
            " The file was left as it is."
        )


def _turn(question: str, answer_json: str | None, error: str | None) -> SavedTurn:
    if answer_json is None:
        return SavedTurn(question, None, error)
    try:
        return SavedTurn(question, Answer.model_validate_json(answer_json), error)
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError, for bad JSON too
        return SavedTurn(question, None, UNREADABLE_ANSWER)


def _missing(conv_id: str) -> ConversationError:
    return ConversationError(
        f"Conversation {conv_id!r} no longer exists (it may have been deleted in another tab)."
        " Start a new conversation."
    )
