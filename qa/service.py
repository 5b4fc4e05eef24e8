"""Wiring the service: settings in, answers, index reports and source rows out.

The one object the CLI, the app and the evaluations share. It opens the model and the store
lazily, and dispatches every question through the ``Answerer`` protocol.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from langchain_core.embeddings import Embeddings

from core.errors import ConfigError, EmptyIndexError, SourceError
from core.progress import ProgressCallback
from core.settings import Settings
from core.types import (
    REMOVED,
    Answer,
    Citation,
    History,
    IndexReport,
    PriorCitation,
    SourceRecord,
    SourceRow,
    SourceText,
    as_turns,
)
from index.embeddings import embedding_name
from index.indexer import index_sources, sources_origin
from index.loaders import discover, read_source_bytes, relative_name, size_over_limit
from index.lock import IndexLease, IndexLock, lock_path
from index.store import Store, forget_client, make_client
from qa.answering.answerability import load_model
from qa.answering.base import Answerer
from qa.answering.extractive import ExtractiveAnswerer
from qa.conversations import ConversationStore
from qa.index_job import IndexJob
from qa.page_view import PageRenderer, PageView
from qa.retrieval import SearchEngine
from qa.sources import SourceReader, safe_upload_name
from qa.suggestions import suggest_questions


class QAService:
    """Lazily opens the model and the store; safe to share between Streamlit sessions."""

    def __init__(self, settings: Settings, embeddings: Embeddings | None = None) -> None:
        self.settings = settings
        self.sources_dir = Path(settings.sources)
        self.store_dir = Path(settings.store)
        self.max_bytes = settings.max_bytes
        self._embeddings = embeddings
        self._index_lock = threading.Lock()
        self._generation: str | None = None
        self._texts: dict[tuple[str, str | None], SourceText | None] = {}
        self._texts_lock = threading.Lock()
        self._suggestions: tuple[tuple[str, int], list[str]] | None = None
        # Made here, not lazily: two sessions' first loads must share one job.
        self.job = IndexJob(lambda progress: self.index(progress=progress))

    @cached_property
    def embeddings(self) -> Embeddings:
        """The embedding model (loaded on first use)."""
        if self._embeddings is None:
            from index.embeddings import LocalEmbeddings

            self._embeddings = LocalEmbeddings(
                batch_size=self.settings.embedding_batch_size,
                backend=self.settings.embedding_backend,
            )
        return self._embeddings

    @cached_property
    def store(self) -> Store:
        """The Chroma store."""
        dimension = len(self.embeddings.embed_query("dimension probe"))
        client = make_client(self.store_dir, self.settings.chroma_url)
        return Store(
            client,
            embedding_name(self.embeddings),
            dimension,
            batch=self.settings.indexing.store_batch,
        )

    @cached_property
    def reader(self) -> SourceReader:
        """Current text of sources, for verification and display."""
        shared = self._shared_text if self.settings.chroma_url else None
        return SourceReader(self.sources_dir, self.max_bytes, shared, self.settings.max_text_chars)

    def _shared_text(self, source: str) -> SourceText | None:
        """A source's text as stored in the shared server, cached per index generation."""
        key = (source, self._generation)
        with self._texts_lock:
            if key in self._texts:
                return self._texts[key]
        text = self.store.source_text(source)
        with self._texts_lock:
            if len(self._texts) > 256:
                self._texts.clear()
            self._texts[key] = text
        return text

    @cached_property
    def engine(self) -> SearchEngine:
        """Dense, lexical and hybrid search."""
        return SearchEngine(self.store, self.embeddings, self.store_dir, self.settings.retrieval)

    @cached_property
    def answerer(self) -> Answerer:
        """The answerer chosen in settings (the LLM one falls back to the extractive one)."""
        extractive = ExtractiveAnswerer(
            self.engine,
            self.reader,
            k=self.settings.top_k,
            mode=self.settings.retriever,
            config=self.settings.answering,
            model=load_model(self.settings.answerability_model),
            min_confidence=self.settings.min_confidence,
        )
        if self.settings.answerer == "llm":
            # Imported here: the LLM client packages load only when an LLM is configured.
            from qa.answering.llm.answerer import LLMAnswerer
            from qa.answering.llm.provider import make_chat_model

            return LLMAnswerer(make_chat_model(self.settings.llm), extractive)
        return extractive

    # indexing --------------------------------------------------------------------------------
    def index(self, progress: ProgressCallback | None = None) -> IndexReport:
        """Bring the index in line with the sources folder (incremental)."""
        with self._index_lock:
            report = index_sources(
                self.sources_dir,
                self.store,
                self.embeddings,
                self.store_dir,
                max_bytes=self.max_bytes,
                max_chars=self.settings.max_text_chars,
                lock_timeout=self.settings.lock_timeout,
                chunking=self.settings.chunking,
                batches=self.settings.indexing,
                progress=progress,
                shared=bool(self.settings.chroma_url),
            )
            self._generation = self.store.generation()
            return report

    def start_index(self) -> bool:
        """Re-index in a background thread; during a run, another run follows it (False)."""
        return self.job.start()

    def is_indexing(self) -> bool:
        """True while any process (any instance, on a shared server) is indexing this store."""
        if self.job.state().running or self._index_lock.locked():
            return True
        if IndexLock.is_locked(lock_path(self.store_dir)):
            return True
        return bool(self.settings.chroma_url) and IndexLease.is_held(self.store)

    def needs_index(self) -> bool:
        """True when the store is empty but the sources folder has files."""
        if not self.sources_dir.is_dir():
            return False
        return self.store.count() == 0 and bool(discover(self.sources_dir)[0])

    # answering -------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: History | None = None,
        sources: Sequence[str] | None = None,
    ) -> Answer:
        """Answer a question from the index.

        ``history`` holds the conversation's earlier turns, oldest first: question strings, or
        ``Turn`` objects (or their JSON form) that also carry what each answer cited.
        ``sources`` limits the question to those sources (names as ``qa sources`` lists them,
        or their titles); None or empty uses them all.

        Raises:
            ConfigError: the question is empty, or a named source is not indexed.
            EmptyIndexError: nothing is indexed yet.

        """
        with self._question(question, sources):
            return self.answerer.answer(question, as_turns(history))

    def ask_stream(
        self,
        question: str,
        history: History | None = None,
        sources: Sequence[str] | None = None,
    ) -> Generator[str | Answer, None, None]:
        """Like :meth:`ask`, yielding an LLM's draft text first, then the verified ``Answer``."""
        with self._question(question, sources):
            yield from self.answerer.stream(question, as_turns(history))

    @contextmanager
    def _question(self, question: str, sources: Sequence[str] | None = None) -> Iterator[None]:
        """Check the question, follow other writers, pin the generation and the scope."""
        generation = self.ask_checks(question)
        self._follow_other_writers(generation)
        scope = None
        if sources:
            records = self._ready_records()
            scope = _resolve(sources, records)
            if set(scope) >= set(records):
                scope = None  # every source chosen: no copy of the whole keyword index
        with self.engine.snapshot(generation), self.engine.scope(scope):
            yield

    def _ready_records(self) -> dict[str, SourceRecord]:
        return {s: r for s, r in self.store.source_records().items() if r.status == "ok"}

    def resolve_sources(self, names: Sequence[str]) -> list[str]:
        """The indexed sources ``names`` stand for: each a source name or a source's title.

        Raises:
            ConfigError: a name matches no indexed source (the message lists some that exist).

        """
        return _resolve(names, self._ready_records())

    def ask_checks(self, question: str) -> str:
        """Raise the errors :meth:`ask` raises for an empty question or an empty index.

        Returns:
            The store's generation stamp, read once for the whole question.

        """
        if not question or not question.strip():
            raise ConfigError("The question is empty; type a question.")
        state = self.store.generation_state()
        generation = state.value
        # The stamp says "empty" without a count; the count settles a stamp that is behind.
        if state.empty and self.store.count() == 0:
            raise EmptyIndexError(
                f"The index in {self.store_dir} is empty. Add documents to {self.sources_dir} "
                "and run `qa index` (or press Re-index in the app)."
            )
        return generation

    def _follow_other_writers(self, generation: str) -> None:
        """Reopen an embedded store that another process re-indexed.

        The embedded Chroma keeps its vector index in memory per process, so vectors written by
        another process (``qa index`` while the app runs) are invisible until the client reopens.
        """
        if self._index_lock.locked():
            return  # this process is the writer: its client already sees what it writes
        if (
            self._generation is not None
            and generation != self._generation
            and not self.settings.chroma_url
        ):
            forget_client(self.store_dir)
            for name in ("store", "engine", "answerer"):
                self.__dict__.pop(name, None)
        self._generation = generation

    # sources ---------------------------------------------------------------------------------
    def show(self, source: str) -> SourceText:
        """The exact extracted text that citations of ``source`` refer to."""
        return self.reader.read(source)

    def original(self, source: str) -> bytes | None:
        """The file behind ``source`` as it is now (for download); None when it is gone."""
        path = self.reader.path_of(source)
        if not path.is_file():
            return None
        return read_source_bytes(path, self.sources_dir, self.max_bytes)

    @cached_property
    def pages(self) -> PageRenderer:
        """Draws the PDF pages citations point into (keeps the last few PDFs' character maps)."""
        return PageRenderer()

    def page_view(
        self, cit: PriorCitation | Citation, data: bytes | None = None
    ) -> PageView | None:
        """The PDF page a citation's quote is on, drawn with the quote's characters highlighted.

        ``data`` is the file's bytes when the caller has read them already (:meth:`original`).
        None for other formats, a file that is gone, or a file that changed since the quote.

        Raises:
            SourceError: the PDF can no longer be read.

        """
        src = self.show(cit.source)
        if src.kind != "pdf":
            return None
        data = data if data is not None else self.original(cit.source)
        if data is None:
            return None
        try:
            return self.pages.render(data, src, cit.start, cit.end, source=cit.source)
        except ValueError as exc:
            raise SourceError(cit.source, f"the page cannot be drawn ({exc})") from exc

    def suggestions(self, limit: int = 5) -> list[str]:
        """A few questions the indexed documents answer, made from them (for a first screen).

        Made once per index generation (and limit) and shared by every session.
        """
        with self.engine.snapshot() as generation:
            cached = self._suggestions
            if cached is not None and cached[0] == (generation, limit):
                return list(cached[1])
            made = suggest_questions(
                self.engine, limit=limit, k=self.settings.top_k, mode=self.settings.retriever
            )
            questions = [s.question for s in made]
            self._suggestions = ((generation, limit), questions)
            return list(questions)

    @cached_property
    def conversations(self) -> ConversationStore:
        """Saved conversations, in the store folder.

        Raises:
            ConversationError: the file is damaged or from a newer version (left unchanged).

        """
        return ConversationStore.in_store(self.store_dir)

    def list_sources(self) -> list[SourceRow]:
        """Every file in the sources folder and every indexed source, with status."""
        records = self.store.source_records()
        files, refused = discover(self.sources_dir) if self.sources_dir.is_dir() else ([], [])
        rows: dict[str, SourceRow] = {}
        for path in files:
            rel = relative_name(path, self.sources_dir)
            rows[rel] = SourceRow(source=rel, size=path.stat().st_size, status="not indexed")
        for rel, error in refused:
            rows[rel] = SourceRow(source=rel, status="failed", error=error)
        origin = sources_origin(self.sources_dir) if self.settings.chroma_url else None
        for rel, rec in records.items():
            stored = rec.model_dump(exclude_none=True)
            row = rows.get(rel, SourceRow(source=rel, status=rec.status))
            row = row.model_copy(update=stored)
            if rel not in rows and (rec.origin or origin) == origin:
                row = row.model_copy(update={"status": REMOVED})
            rows[rel] = row
        return sorted(rows.values(), key=lambda r: r.source)

    def save_upload(
        self,
        client_name: str,
        data: bytes,
        *,
        replace: bool = True,
        batch: set[str] | None = None,
    ) -> tuple[str, str]:
        """Store an uploaded file under a safe name.

        An identical file already present is left alone; a different file with the same name
        replaces it only when ``replace`` is true, otherwise it gets a new name. Names in
        ``batch`` (saved earlier in the same upload) are never replaced: two files of one name
        in one upload are both kept. Empty and oversized files are refused before saving.

        Returns:
            The server-side name and what happened: ``added``, ``replaced`` or ``unchanged``.

        Raises:
            ConfigError: the name is unusable, the file empty or too large, or the folder
                cannot be written.

        """
        batch = batch if batch is not None else set()
        if not data.strip():
            raise ConfigError(f"{client_name!r}: the file is empty; nothing to index")
        if len(data) > self.settings.max_bytes:
            raise ConfigError(
                f"{client_name!r}: {size_over_limit(len(data), self.settings.max_bytes)}"
            )
        try:
            self.sources_dir.mkdir(parents=True, exist_ok=True)
            name = safe_upload_name(client_name, set())
            target = self.sources_dir / name
            action = ""
            if name not in batch and target.is_file() and not target.is_symlink():
                if target.read_bytes() == data:
                    action = "unchanged"
                elif replace:
                    _atomic_write(target, data)
                    action = "replaced"
            if not action:
                existing = {p.name for p in self.sources_dir.iterdir()} | batch
                name = safe_upload_name(client_name, existing)
                _atomic_write(self.sources_dir / name, data)
                action = "added"
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(f"{client_name!r}: could not be saved ({reason})") from exc
        batch.add(name)
        return name, action

    def delete_source(self, source: str) -> None:
        """Delete a source file; the next index run drops its chunks."""
        path = self.reader.path_of(source)
        if not path.is_file():
            raise SourceError(source, "no such file in the sources folder")
        try:
            path.unlink()
        except OSError as exc:
            raise SourceError(source, f"could not be deleted ({exc.strerror or exc})") from exc


def _resolve(names: Sequence[str], records: dict[str, SourceRecord]) -> list[str]:
    """The sources of ``records`` that ``names`` stand for (a source name or a title each)."""
    by_title: dict[str, list[str]] = {}
    for source, rec in records.items():
        if rec.title:
            by_title.setdefault(rec.title.strip().casefold(), []).append(source)
    chosen: list[str] = []
    for name in names:
        if name in records:
            chosen.append(name)
        elif matches := by_title.get(name.strip().casefold()):
            chosen.extend(matches)
        else:
            known = ", ".join(sorted(records)[:8]) + (" …" if len(records) > 8 else "")
            raise ConfigError(
                f"No indexed source is named {name!r}; "
                + (f"indexed sources: {known}" if records else "nothing is indexed yet")
                + " (`qa sources` lists them all)."
            )
    return sorted(set(chosen))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.upload")
    tmp.write_bytes(data)
    os.replace(tmp, path)
