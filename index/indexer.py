"""Incremental re-indexing: compare the sources folder with the store and do only what changed.

Order of writes per file (why the store survives ``kill -9`` at any point): new chunks are added
first, then moved chunks get new offsets, then stale chunks are deleted, and the source record
with the file's hash is written last. A crash before the record leaves the file looking changed,
so the next run redoes it; chunk ids are deterministic, so redoing converges to the same set.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from core.errors import ConfigError, SourceError, StoreError
from core.progress import Progress, ProgressCallback
from core.settings import ChunkingSettings, IndexingSettings
from core.types import Chunk, IndexReport, SourceFailure, SourceRecord, SourceText
from index import sentence_vectors
from index.chunking import chunk_source
from index.lexical import LexicalStore, open_lexical
from index.loaders import (
    MAX_TEXT_CHARS,
    Found,
    load_bytes,
    read_source_bytes,
    relative_name,
    scan,
)
from index.lock import IndexLease, IndexLock, NoLease, lock_path
from index.manifest import Manifest, Seen
from index.sentence_vectors import unit_spans
from index.store import Generation, Store

# Bump when loading or chunking changes what a file turns into: unchanged files are re-chunked
# (their unchanged chunk texts still reuse stored vectors).
# 3: structure-aware loaders, units and heading paths; 4: plain-text titles skip datelines
# (unchanged chunk texts keep their vectors, so moving to a new version embeds nothing again)
PIPELINE_VERSION = "4"


@dataclass
class _Plan:
    source: str
    status: str  # added | changed
    record: SourceRecord
    chunks: list[Chunk]
    text: SourceText


def index_sources(
    sources_dir: Path,
    store: Store,
    embeddings: Embeddings,
    store_dir: Path,
    *,
    max_bytes: int = 20_000_000,
    max_chars: int = MAX_TEXT_CHARS,
    lock_timeout: float = 0.0,
    chunking: ChunkingSettings | None = None,
    batches: IndexingSettings | None = None,
    progress: ProgressCallback | None = None,
    shared: bool = False,
) -> IndexReport:
    """Bring the store in line with ``sources_dir``, embedding only text not embedded yet.

    Args:
        sources_dir: Folder of documents.
        store: The Chroma store.
        embeddings: Model used for new chunks.
        store_dir: Local folder for the lock and the lexical cache.
        max_bytes: Files larger than this fail with a clear error.
        max_chars: Files whose extracted text is longer fail with a clear error.
        lock_timeout: Seconds to wait for another indexer to finish.
        chunking: Chunk sizes.
        batches: Group and batch sizes.
        progress: Called as files and chunks are processed.
        shared: The store is a Chroma server other instances may write to: take the lease
            in the store (``IndexLease``) as well as the local lock.

    Returns:
        The report of ``qa index --json``.

    Raises:
        ConfigError: the sources folder does not exist.
        IndexBusyError: another process is indexing this store.

    """
    started = time.monotonic()
    if not sources_dir.is_dir():
        raise ConfigError(
            f"Sources folder {sources_dir} does not exist; create it or set QA_SOURCES / --sources."
        )
    batches = batches or IndexingSettings()
    lease = IndexLease(store, lock_timeout) if shared else NoLease()
    with IndexLock(lock_path(store_dir), lock_timeout), contextlib.ExitStack() as held:
        files, refused = scan(sources_dir)
        manifest = Manifest(store_dir)
        # On a shared server the lease costs a second of settling (``index.lock``); a run that
        # would write nothing needs none.
        if (
            shared
            and (quiet := _unchanged_run(files, refused, store, store_dir, manifest)) is not None
        ):
            if progress:
                n = quiet.files.unchanged
                progress(Progress(files_total=n, files_read=n, files_done=n))
            quiet.seconds = round(time.monotonic() - started, 3)
            return quiet
        held.enter_context(lease)
        report = IndexReport()
        for source, error in refused:
            report.errors.append(SourceFailure(source=source, error=error))
        origin = sources_origin(sources_dir) if shared else None
        present = {f.name for f in files} | {s for s, _ in refused}
        # An earlier run that never finished (kill -9, power cut), or a store from before the
        # change log: this run reads every chunk's metadata once to repair what it left.
        since = store.generation_state()
        unfinished = store.run_unfinished()
        repair = unfinished or (bool(since.value) and not since.seq)
        marked: list[bool] = []

        def mark() -> None:
            """Note the run in the store before its first write (a run with none writes none)."""
            if not marked:
                store.mark_run(lease.owner)
                marked.append(True)

        keywords = _Keywords(store_dir)
        seen = None if repair else manifest.load(since.value)

        state = Progress(files_total=len(files))
        todo = [(Path(f.path), f.name) for f in _looks_changed(files, seen)]
        skipped = len(files) - len(todo)  # counted once: the report and progress are models
        report.files.unchanged += skipped
        state.files_read += skipped
        state.files_done += skipped
        if seen is None:
            records = store.source_records()
            # On a shared server, other instances' folders are not ours to prune.
            theirs = {s for s, r in records.items() if (r.origin or origin) != origin}
            listed = set(records)
        else:
            # The manifest lists what this folder's runs indexed: only the records of files
            # that look changed, and of files gone, are read from the store.
            listed, theirs = set(seen), set()
            wanted = [r for _, r in todo] + [s for s, _ in refused] + sorted(listed - present)
            records = store.get_source_records(wanted)

        hashed: dict[str, Seen] = {}
        plans: list[_Plan] = []
        for path, rel in todo:
            state.source = rel
            state.files_read += 1
            limits = (max_bytes, max_chars)
            plan = _plan_file(path, sources_dir, records.get(rel), limits, chunking, report, hashed)
            if plan is not None:
                if origin is not None:
                    plan.record = plan.record.model_copy(update={"origin": origin})
                plans.append(plan)
            else:
                state.files_done += 1
            if progress:
                progress(state)

        if repair:
            chunk_meta = store.chunk_metadata()
            known = listed | {str(m["source"]) for m in chunk_meta.values()}
            gone = sorted(known - present - theirs)
        else:
            # Only what this run touches: the chunks of changed and removed files, and stored
            # chunks with the text of new ones (their vectors are reused).
            gone = sorted(listed - present - theirs)
            touched = {p.source for p in plans} | set(gone)
            hashes = {c.text_hash for p in plans for c in p.chunks}
            chunk_meta = _touched_chunks(store, keywords, since, touched, hashes)
        by_hash = {str(m["text_hash"]): i for i, m in chunk_meta.items()}
        # Text seen before (stored, or earlier in this run) is reused, so count distinct texts.
        state.chunks_total = len(
            {c.text_hash for p in plans for c in p.chunks}
            - {c.text_hash for p in plans for c in p.chunks if c.id in chunk_meta}
            - set(by_hash)
        )
        state.phase, state.embed_started = "embedding", time.monotonic()
        if progress:
            progress(state)
        run = _Run(
            store, embeddings, chunk_meta, by_hash, report, state, progress, shared, batches, since
        )
        # Files are written in groups so that many small files still embed in full batches,
        # while a crash loses at most one group's embeddings.
        group: list[_Plan] = []
        for plan in plans:
            group.append(plan)
            if sum(len(p.chunks) for p in group) >= batches.group_chunks:
                lease.ensure_held()
                mark()
                _apply(group, run)
                group = []
        if group:
            lease.ensure_held()
            mark()
            _apply(group, run)

        # Files that are gone are dropped after the others are written: a renamed file's
        # chunks then reuse the vectors of its old name instead of being embedded again.
        if gone:
            mark()
            dropped = set(gone)
            ids = sorted(i for i, m in chunk_meta.items() if m["source"] in dropped)
            store.delete_chunks(ids)
            store.delete_sentence_vectors(ids)
            run.generation = store.log_change(gone, run.generation, chunk_ids={})
            for source in gone:
                store.delete_source(source)
            for i in ids:
                del chunk_meta[i]
            report.files.removed += len(gone)
            report.chunks.deleted += len(ids)

        report.files.failed = len(report.errors)
        for failure in report.errors:
            # Old chunks of a file that now fails stay searchable; the record says what failed.
            previous = records.get(failure.source) or SourceRecord(source=failure.source)
            if previous.status == "failed" and previous.error == failure.error:
                continue  # already says so
            mark()
            store.put_source(
                previous.model_copy(update={"status": "failed", "error": failure.error})
            )
        if repair:
            mark()
            # Sentence vectors whose chunk is gone (a crash between the two deletes) go too, and
            # keyword indexes rebuild in full: the crashed run's changes were never logged.
            store.delete_sentence_vectors(sorted(store.sentence_vector_ids() - set(chunk_meta)))
            run.generation = store.log_change((), run.generation, everything=True)
        if marked or unfinished:
            store.unmark_run()
        # The store's totals: when this run wrote no chunks, as the last run left them.
        counted = manifest.source_count(since.value) if seen is not None else None
        if counted is not None and run.generation != since:
            # Moved by this run alone (the manifest was current): add what its records changed.
            def has(record: SourceRecord | None) -> int:
                return int(record is not None and record.chunks > 0)

            counted += sum(has(p.record) - has(records.get(p.source)) for p in plans)
            counted -= sum(has(records.get(g)) for g in gone)
        report.store.sources = store.source_count() if counted is None else counted
        ending = run.generation
        report.store.chunks = ending.chunks if ending.seq and ending.chunks >= 0 else store.count()
        # Every file read this run (unchanged or written) and every failure, for the next run.
        failed = [Seen(f.source, -1, -1, 0, "", PIPELINE_VERSION, ok=False) for f in report.errors]
        idle = run.generation == since and counted is not None and not hashed and not failed
        with contextlib.suppress(OSError, sqlite3.Error):  # a cache: the next run reads all
            if not idle:  # nothing to record: it already says all of this
                manifest.save(
                    ending.value,
                    [*hashed.values(), *failed],
                    gone,
                    replace=seen is None,
                    sources=report.store.sources,
                )
        # Also when this run changed nothing: an earlier one may have died before its update.
        keywords.sync(store, ending)
        keywords.close()
        report.seconds = round(time.monotonic() - started, 3)
        return report


def _unchanged_run(
    files: list[Found],
    refused: list[tuple[str, str]],
    store: Store,
    store_dir: Path,
    manifest: Manifest,
) -> IndexReport | None:
    """The report of a run with nothing to do, found without writing; None when there is work.

    Nothing to do: the manifest is at the store's generation, every file's ``stat`` is as it
    recorded, no file is gone or refused, and no crashed run waits for repair.
    """
    since = store.generation_state()
    if refused or not since.seq or since.chunks < 0 or store.run_unfinished():
        return None
    seen = manifest.load(since.value)
    sources = manifest.source_count(since.value)
    if seen is None or sources is None or len(seen) != len(files) or _looks_changed(files, seen):
        return None
    keywords = _Keywords(store_dir)
    keywords.sync(store, since)  # an earlier run may have died before its update
    keywords.close()
    report = IndexReport()
    report.files.unchanged = len(files)
    report.store.sources = sources
    report.store.chunks = since.chunks
    return report


def _looks_changed(files: list[Found], seen: dict[str, Seen] | None) -> list[Found]:
    """The files the manifest does not show unchanged by ``stat`` (every file without one)."""
    if seen is None:
        return list(files)
    return [f for f in files if (e := seen.get(f.name)) is None or not _stat_unchanged(f, e)]


class _Keywords:
    """The store's keyword index for one run, opened when first needed.

    It mirrors every chunk's id, source and text hash at the store's generation, so the run
    finds the chunks it touches there; at the end the run's changes are applied to it, so the
    next answer is as quick as any. Readers sync it themselves at their next question, so a
    failure here costs only a slower lookup.
    """

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._index: LexicalStore | None = None

    def synced(self, store: Store, generation: Generation) -> LexicalStore | None:
        """The index at ``generation``; None when it cannot be opened or brought there."""
        try:
            if self._index is None:
                self._index = open_lexical(self.store_dir)
            self._index.sync(store, generation)
        except (StoreError, ValueError, OSError):
            self.close()
            return None
        return self._index

    def sync(self, store: Store, generation: Generation) -> None:
        """Apply the run's changes (or say nothing: readers catch up by themselves)."""
        self.synced(store, generation)

    def close(self) -> None:
        """Let go of the index."""
        if self._index is not None:
            self._index.close()
            self._index = None


def _touched_chunks(
    store: Store,
    keywords: _Keywords,
    since: Generation,
    sources: set[str],
    hashes: set[str],
) -> dict[str, dict[str, Any]]:
    """Metadata by id of the chunks of ``sources`` and of stored chunks with a text in ``hashes``.

    Their ids come from the keyword index (a local mirror of the store at ``since``) and the
    metadata from Chroma by id, so the work follows the files touched, not the store's size.
    Without the index, Chroma's filters by source and by hash find them (each reads the whole
    collection).
    """
    if not sources and not hashes:
        return {}
    index = keywords.synced(store, since)
    if index is not None:
        try:
            ids = index.ids_where("source", sources) | index.ids_where("hash", hashes)
        except ValueError:
            ids = None
        if ids is not None:
            return store.chunk_metadata_of(ids)
    found = store.chunk_metadata_where("source", sources)
    found.update(
        store.chunk_metadata_where(
            "text_hash", hashes - {str(m["text_hash"]) for m in found.values()}
        )
    )
    return found


def _stat_unchanged(found: Found, entry: Seen) -> bool:
    try:
        return entry.unchanged(found.stat(), PIPELINE_VERSION)
    except OSError:
        return False  # gone or unreadable since listed: read it to report why


def _plan_file(
    path: Path,
    root: Path,
    record: SourceRecord | None,
    limits: tuple[int, int],
    chunking: ChunkingSettings | None,
    report: IndexReport,
    hashed: dict[str, Seen],
) -> _Plan | None:
    """Read and hash one file: None when unchanged or failed, else what to write for it.

    What was read is noted in ``hashed`` (size and time before reading), for the manifest.
    """
    rel = relative_name(path, root)
    try:
        max_bytes, max_chars = limits
        seen_ns = time.time_ns()
        st = path.stat()
        raw = read_source_bytes(path, root, max_bytes)
        digest = hashlib.sha256(raw).hexdigest()
        seen = Seen(rel, st.st_size, st.st_mtime_ns, seen_ns, digest, PIPELINE_VERSION, ok=True)
        if (
            record
            and record.content_hash == digest
            and record.status == "ok"
            and record.pipeline == PIPELINE_VERSION
        ):
            report.files.unchanged += 1
            hashed[rel] = seen
            return None
        src: SourceText = load_bytes(rel, raw, max_chars)
    except OSError as exc:  # stat of a file gone or unreadable since it was listed
        report.errors.append(SourceFailure(source=rel, error=f"cannot read file: {exc.strerror}"))
        return None
    except SourceError as exc:
        report.errors.append(SourceFailure(source=rel, error=exc.reason))
        return None
    except Exception as exc:  # a converter bug must cost one file, not the whole run
        reason = f"could not convert this file ({exc.__class__.__name__}: {exc})"
        report.errors.append(SourceFailure(source=rel, error=reason))
        return None
    hashed[rel] = seen
    chunks = chunk_source(src, chunking)
    status = "changed" if record else "added"
    rec = SourceRecord(
        source=rel,
        content_hash=digest,
        size=len(raw),
        kind=src.kind,
        title=src.title,
        encoding=src.encoding,
        pages=len(src.pages) or None,
        chunks=len(chunks),
        status="ok",
        pipeline=PIPELINE_VERSION,
    )
    return _Plan(rel, status, rec, chunks, src)


@dataclass
class _Run:
    """What the group steps of one index run share."""

    store: Store
    embeddings: Embeddings
    chunk_meta: dict[str, dict[str, object]]  # stored chunks by id, kept current
    by_hash: dict[str, str]  # a stored chunk id for each chunk-text hash (vector reuse)
    report: IndexReport
    state: Progress
    progress: ProgressCallback | None
    shared: bool
    batches: IndexingSettings
    generation: Generation  # moved by each group that changes chunks (the change log)


def _apply(group: list[_Plan], run: _Run) -> None:
    """Embed what a group of files needs, then write the group (see :func:`_write`)."""
    store, embeddings, chunk_meta, by_hash = run.store, run.embeddings, run.chunk_meta, run.by_hash
    state, progress, report = run.state, run.progress, run.report
    fresh = [c for plan in group for c in plan.chunks if c.id not in chunk_meta]
    old_ids = sorted({by_hash[c.text_hash] for c in fresh if c.text_hash in by_hash})
    reusable = store.get_embeddings(old_ids)
    pooled = _sentence_pooling(embeddings)
    reusable_sv = store.get_sentence_vectors(old_ids, *_sv_key(store)) if pooled else {}
    vectors: dict[str, list[float]] = {}  # by text hash: the same text is embedded once
    sentence_blobs: dict[str, str] = {}  # by text hash
    for c in fresh:
        old = by_hash.get(c.text_hash, "")
        if old in reusable:
            vectors[c.text_hash] = reusable[old]
            if old in reusable_sv:
                sentence_blobs[c.text_hash] = reusable_sv[old]
    to_embed = list({c.text_hash: c for c in fresh if c.text_hash not in vectors}.items())
    # Longest first (in the model's tokens when it can count them), as sentence-transformers
    # orders one call: batches of similar lengths waste little on padding, even though the
    # group is embedded in several calls.
    count = getattr(embeddings, "token_lengths", None)
    texts = [chunk.embed_text() for _h, chunk in to_embed]
    lengths = count(texts) if count is not None else [len(t) for t in texts]
    order = sorted(range(len(to_embed)), key=lambda i: -lengths[i])
    to_embed = [to_embed[i] for i in order]
    step = run.batches.embed_batch
    for i in range(0, len(to_embed), step):
        part = to_embed[i : i + step]
        state.source = group[0].source
        texts = [chunk.embed_text() for _h, chunk in part]
        if pooled is not None:
            spans = [unit_spans(chunk) for _h, chunk in part]
            chunk_vectors, sentence_arrays = pooled(texts, spans)
            for (h, _text), arr in zip(part, sentence_arrays, strict=True):
                sentence_blobs[h] = sentence_vectors.encode(arr)
        else:
            chunk_vectors = embeddings.embed_documents(texts)
        for (h, _text), vec in zip(part, chunk_vectors, strict=True):
            vectors[h] = vec
        state.chunks_done += len(part)
        state.chunks_total = max(state.chunks_total, state.chunks_done)
        if progress:
            progress(state)
    report.chunks.embedded += len(to_embed)
    report.chunks.reused += sum(len(p.chunks) for p in group) - len(to_embed)
    _write(group, run, vectors, sentence_blobs)
    state.files_done += len(group)
    state.source = group[-1].source
    if progress:
        progress(state)


def _sentence_pooling(embeddings: Embeddings) -> Any:
    """The model's one-pass chunk + sentence embedding, when it has one (the packaged model)."""
    return getattr(embeddings, "embed_with_sentences", None)


def _sv_key(store: Store) -> tuple[str, str]:
    return store.model, sentence_vectors.FORMAT


def _write(
    group: list[_Plan],
    run: _Run,
    vectors: dict[str, list[float]],
    sentence_blobs: dict[str, str],
) -> None:
    """A group's writes, in the crash-safe order of the module docstring, one call per step.

    Batching the group into one call per step (not one per file) matters for many small files:
    each Chroma call has a fixed cost of tens of milliseconds. The order still holds for every
    file of the group, since each step finishes for all of them before the next starts.
    """
    store, chunk_meta, by_hash, report = run.store, run.chunk_meta, run.by_hash, run.report
    sources = {plan.source for plan in group}
    old_ids = {i for i, m in chunk_meta.items() if m["source"] in sources}
    new_ids = {c.id for plan in group for c in plan.chunks}
    fresh = [c for plan in group for c in plan.chunks if c.id not in chunk_meta]
    moved = [
        c
        for plan in group
        for c in plan.chunks
        if c.id in chunk_meta and _moved(c, chunk_meta[c.id])
    ]
    blobs = {c.id: sentence_blobs[c.text_hash] for c in fresh if c.text_hash in sentence_blobs}
    if blobs:
        store.put_sentence_vectors(blobs, *_sv_key(store))
    if fresh:
        store.add_chunks(fresh, [vectors[c.text_hash] for c in fresh])
    if moved:
        store.update_chunk_metadata(moved)
    stale = sorted(old_ids - new_ids)
    if stale:
        store.delete_chunks(stale)
        store.delete_sentence_vectors(stale)
    if fresh or moved or stale:
        # Logged before the records: a crash in between redoes these files, logging them again.
        listed = {plan.source: [c.id for c in plan.chunks] for plan in group}
        run.generation = store.log_change(sources, run.generation, chunk_ids=listed)
    now = time.time()
    records = [plan.record.model_copy(update={"indexed_at": now}) for plan in group]
    # On a shared server the extracted text goes along, so instances without the files can
    # still verify and show quotes.
    store.put_sources(records, [plan.text for plan in group] if run.shared else None)

    for chunk_id in stale:
        gone = chunk_meta.pop(chunk_id, None)
        if gone is not None and by_hash.get(str(gone["text_hash"])) == chunk_id:
            del by_hash[str(gone["text_hash"])]  # its vector is gone; never point at it
    for plan in group:
        for c in plan.chunks:
            chunk_meta[c.id] = dict(c.metadata())
            by_hash.setdefault(c.text_hash, c.id)
        if plan.status == "added":
            report.files.added += 1
        else:
            report.files.changed += 1
    report.chunks.deleted += len(stale)


def sources_origin(sources_dir: Path) -> str:
    """Which folder on which machine a shared store's sources came from."""
    return f"{socket.gethostname()}:{sources_dir.resolve()}"


def _moved(chunk: Chunk, meta: dict[str, object]) -> bool:
    stored = {k: meta.get(k) for k in ("source", "start", "end", "ordinal", "page")}
    return stored != {k: chunk.metadata().get(k) for k in stored}
