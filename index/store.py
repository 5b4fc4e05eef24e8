"""The Chroma side of the index: chunks with vectors, per-source records, and a generation stamp.

Everything that must be shared between app instances lives in Chroma (embedded or server), so
the lexical index beside it is only a cache that can always be rebuilt from here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, StoreError
from core.settings import IndexingSettings
from core.types import Chunk, SourceRecord, SourceText

CHUNKS = "qa_chunks"
SOURCES = "qa_sources"
META = "qa_meta"
SENTENCES = "qa_sentences"
_GEN_ID = "generation"
_LEASE_ID = "index_lease"
_RUN_ID = "index_run"
# Change-log entries kept; an instance further behind rebuilds its keyword index in full.
LOG_KEEP = 5000
_PRUNE_EVERY = 100
_WHERE_BATCH = 200  # values per "$in" filter


@dataclass(frozen=True)
class Generation:
    """Where the store's chunk set stands: a stamp, its change-log sequence, its chunk count.

    ``chunks`` is -1 when not recorded (a store written before the change log).
    """

    value: str
    seq: int
    chunks: int

    @property
    def empty(self) -> bool:
        """True when the store holds no chunks (or was never indexed)."""
        return self.value == "" or self.chunks == 0


def make_client(store_dir: Path, chroma_url: str | None = None) -> Any:
    """Open Chroma: ``HttpClient`` for a server URL, else ``PersistentClient`` in the store."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        from urllib.parse import urlparse

        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"QA_CHROMA_URL must look like http://host:port, got {chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=settings,
            )
        except Exception as exc:  # chromadb raises bare ValueError/ConnectionError variants
            raise StoreError(f"Cannot reach the Chroma server at {chroma_url}: {exc}") from exc
    store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(store_dir / "chroma"), settings=settings)


def forget_client(store_dir: Path) -> None:
    """Drop the process-wide embedded client of ``store_dir`` so the next one reopens the files.

    Embedded Chroma keeps one system (with its in-memory vector index) per path and process, so
    vectors another process wrote stay invisible until that system is replaced.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    key = str(store_dir / "chroma")
    SharedSystemClient._identifier_to_system.pop(key, None)
    SharedSystemClient._identifier_to_refcount.pop(key, None)


class Store:
    """Chunks, source records and the index generation in one Chroma database."""

    def __init__(self, client: Any, model: str, dimension: int, batch: int | None = None) -> None:
        self.client = client
        self.batch = batch or IndexingSettings().store_batch  # records per Chroma call
        self.model = model
        self.dimension = dimension
        self.chunks = client.get_or_create_collection(
            CHUNKS,
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "embedding_model": model, "dimension": dimension},
        )
        stored_model = (self.chunks.metadata or {}).get("embedding_model")
        if stored_model and stored_model != model:
            raise StoreError(
                f"This store was built with the embedding model {stored_model!r}, not {model!r}. "
                "Use another store folder (--store), or delete this one's Chroma files and index"
                " again (keep conversations.sqlite3: it holds the saved conversations)."
            )
        # Chroma wants a vector with every record; these two hold records only.
        self.sources = client.get_or_create_collection(SOURCES, embedding_function=None)
        self.meta = client.get_or_create_collection(META, embedding_function=None)
        # Sentence vectors of each chunk (``index.sentence_vectors``), one record per chunk id.
        # Kept apart from the chunks so that reading all chunk metadata stays light.
        self.sentences = client.get_or_create_collection(SENTENCES, embedding_function=None)

    # chunks ---------------------------------------------------------------------------------
    def count(self) -> int:
        """Return the number of chunks stored."""
        return int(self.chunks.count())

    def chunk_metadata(self) -> dict[str, dict[str, Any]]:
        """Every chunk's metadata by id (no vectors, no text): a full read, for repair runs."""
        out: dict[str, dict[str, Any]] = {}
        for ids, _docs, metas in self._pages(self.chunks, ["metadatas"]):
            out.update(zip(ids, metas, strict=True))
        return out

    def chunk_metadata_where(self, key: str, values: Collection[str]) -> dict[str, dict[str, Any]]:
        """Metadata by id of the chunks whose ``key`` (``source``, ``text_hash``) is in ``values``.

        What an index run reads instead of every chunk's metadata: work in proportion to the
        files it touches, not to the store.
        """
        out: dict[str, dict[str, Any]] = {}
        names = sorted(values)
        for i in range(0, len(names), _WHERE_BATCH):
            where = _in_filter(key, names[i : i + _WHERE_BATCH])
            got = self.chunks.get(where=where, include=["metadatas"])
            out.update(zip(got["ids"], got["metadatas"], strict=True))
        return out

    def chunk_metadata_of(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Metadata by id of the chunks ``ids`` that exist (read by id: no scan of the store)."""
        out: dict[str, dict[str, Any]] = {}
        names = sorted(ids)
        for i in range(0, len(names), self.batch):
            got = self.chunks.get(ids=names[i : i + self.batch], include=["metadatas"])
            out.update(zip(got["ids"], got["metadatas"], strict=True))
        return out

    def chunks_of_sources(self, sources: Collection[str]) -> list[Chunk]:
        """Every chunk of ``sources`` with its text (any order)."""
        out: list[Chunk] = []
        names = sorted(sources)
        for i in range(0, len(names), _WHERE_BATCH):
            where = _in_filter("source", names[i : i + _WHERE_BATCH])
            out.extend(_chunks(self.chunks.get(where=where, include=["documents", "metadatas"])))
        return out

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every stored chunk with its text."""
        for ids, docs, metas in self._pages(self.chunks, ["documents", "metadatas"]):
            for chunk_id, doc, meta in zip(ids, docs, metas, strict=True):
                yield Chunk.from_record(chunk_id, doc or "", meta)

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order found."""
        out: list[Chunk] = []
        for i in range(0, len(ids), self.batch):
            part = list(ids[i : i + self.batch])
            out.extend(_chunks(self.chunks.get(ids=part, include=["documents", "metadatas"])))
        return out

    def source_chunks(self, source: str) -> list[Chunk]:
        """Every chunk of one source, in reading order."""
        return sorted(self.chunks_of_sources([source]), key=lambda c: c.start)

    def get_embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Return stored vectors by id, so unchanged text is never embedded twice."""
        out: dict[str, list[float]] = {}
        for i in range(0, len(ids), self.batch):
            got = self.chunks.get(ids=list(ids[i : i + self.batch]), include=["embeddings"])
            for chunk_id, vec in zip(got["ids"], got["embeddings"], strict=True):
                out[chunk_id] = [float(x) for x in vec]
        return out

    def add_chunks(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace chunks with their vectors."""
        for i in range(0, len(chunks), self.batch):
            part = chunks[i : i + self.batch]
            self.chunks.upsert(
                ids=[c.id for c in part],
                embeddings=[list(v) for v in vectors[i : i + self.batch]],
                documents=[c.text for c in part],
                metadatas=[c.metadata() for c in part],
            )

    def update_chunk_metadata(self, chunks: Sequence[Chunk]) -> None:
        """Store new offsets for chunks whose text did not change (no re-embedding)."""
        for i in range(0, len(chunks), self.batch):
            part = chunks[i : i + self.batch]
            self.chunks.update(ids=[c.id for c in part], metadatas=[c.metadata() for c in part])

    def delete_chunks(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        for i in range(0, len(ids), self.batch):
            self.chunks.delete(ids=list(ids[i : i + self.batch]))

    def query_ids(
        self, vector: Sequence[float], k: int, sources: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity, without fetching texts or metadata.

        ``sources`` limits the search to those sources' chunks (None: all of them).
        """
        # Chroma returns fewer than k when it holds fewer (no count() round trip needed).
        res = self.chunks.query(
            query_embeddings=[list(vector)],
            n_results=k,
            include=["distances"],
            where=_source_filter(sources),
        )
        return [
            (i, 1.0 - float(dist))
            for i, dist in zip(res["ids"][0], res["distances"][0], strict=True)
        ]

    def query(
        self, vector: Sequence[float], k: int, sources: Collection[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity (1 - cosine distance), within ``sources``."""
        res = self.chunks.query(
            query_embeddings=[list(vector)],
            n_results=k,
            include=["documents", "metadatas", "distances"],
            where=_source_filter(sources),
        )
        # A chunk deleted by an indexer in another process can still be in this process's
        # vector index for a moment; it comes back without a record and is skipped.
        return [
            (Chunk.from_record(i, d or "", m), 1.0 - float(dist))
            for i, d, m, dist in zip(
                res["ids"][0],
                res["documents"][0],
                res["metadatas"][0],
                res["distances"][0],
                strict=True,
            )
            if m is not None
        ]

    # sentence vectors -------------------------------------------------------------------------
    def put_sentence_vectors(self, blobs: dict[str, str], model: str, fmt: str) -> None:
        """Store packed sentence vectors by chunk id (see ``index.sentence_vectors``)."""
        ids = sorted(blobs)
        for i in range(0, len(ids), self.batch):
            part = ids[i : i + self.batch]
            self.sentences.upsert(
                ids=part,
                # Chroma wants a vector per record; a distinct 1-d one keeps its index sane.
                embeddings=[[_unit_hash(chunk_id)] for chunk_id in part],
                metadatas=[{"v": blobs[c], "model": model, "format": fmt} for c in part],
            )

    def get_sentence_vectors(self, ids: Sequence[str], model: str, fmt: str) -> dict[str, str]:
        """Packed sentence vectors by chunk id, for the ids that have them in ``fmt``."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), self.batch):
            got = self.sentences.get(ids=list(ids[i : i + self.batch]), include=["metadatas"])
            for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                if meta and meta.get("model") == model and meta.get("format") == fmt:
                    out[chunk_id] = str(meta["v"])
        return out

    def delete_sentence_vectors(self, ids: Sequence[str]) -> None:
        """Remove sentence-vector records by chunk id."""
        for i in range(0, len(ids), self.batch):
            self.sentences.delete(ids=list(ids[i : i + self.batch]))

    def sentence_vector_ids(self) -> set[str]:
        """Ids of every sentence-vector record (to drop those whose chunk is gone)."""
        return {i for ids, _d, _m in self._pages(self.sentences, []) for i in ids}

    # sources ----------------------------------------------------------------------------------
    def source_records(self) -> dict[str, SourceRecord]:
        """Per-source records (hash, size, chunks, status, error, ...) by source name."""
        out: dict[str, SourceRecord] = {}
        for _ids, _docs, metas in self._pages(self.sources, ["metadatas"]):
            for meta in metas:
                record = SourceRecord.model_validate(meta)
                out[record.source] = record
        return out

    def get_source_records(self, sources: Sequence[str]) -> dict[str, SourceRecord]:
        """The records of ``sources`` that exist, by source name."""
        out: dict[str, SourceRecord] = {}
        ids = [_source_id(s) for s in sources]
        for i in range(0, len(ids), self.batch):
            got = self.sources.get(ids=ids[i : i + self.batch], include=["metadatas"])
            for meta in got["metadatas"]:
                if meta:
                    record = SourceRecord.model_validate(meta)
                    out[record.source] = record
        return out

    def source_count(self) -> int:
        """Sources with chunks in the store (a file that now fails keeps its old ones).

        Read from the records (ids only), not from every chunk's metadata.
        """
        got = self.sources.get(where={"chunks": {"$gt": 0}}, include=[])
        return len(got["ids"])

    def put_source(self, record: SourceRecord) -> None:
        """Write a source record; written last, so a crash before it means 'redo this file'."""
        self.put_sources([record])

    def put_sources(
        self, records: Sequence[SourceRecord], texts: Sequence[SourceText] | None = None
    ) -> None:
        """Write several source records in one call, with their extracted texts if given."""
        for i in range(0, len(records), self.batch):
            part: list[dict[str, Any]] = [r.metadata() for r in records[i : i + self.batch]]
            docs = None
            if texts is not None:
                sent = texts[i : i + self.batch]
                docs = [t.text for t in sent]
                for record, text in zip(part, sent, strict=True):
                    if text.pages:
                        record["page_spans"] = json.dumps(text.pages)
            self.sources.upsert(
                ids=[_source_id(r["source"]) for r in part],
                embeddings=[[_unit_hash(r["source"])] for r in part],
                metadatas=part,
                documents=docs,
            )

    def source_text(self, source: str) -> SourceText | None:
        """The extracted text stored with a source (shared stores only), or None."""
        got = self.sources.get(ids=[_source_id(source)], include=["documents", "metadatas"])
        if not got["ids"] or got["documents"][0] is None:
            return None
        meta = got["metadatas"][0] or {}
        spans = json.loads(str(meta.get("page_spans", "[]")))
        return SourceText(
            source=source,
            text=got["documents"][0],
            kind=str(meta.get("kind", "")),
            title=str(meta.get("title", "")),
            encoding=str(meta.get("encoding", "utf-8")),
            pages=[(int(a), int(b)) for a, b in spans],
        )

    def delete_source(self, source: str) -> None:
        """Forget a source record."""
        self.sources.delete(ids=[_source_id(source)])

    # generation and change log ---------------------------------------------------------------
    def generation(self) -> str:
        """Stamp that changes whenever the set of chunks changes (keys the lexical cache)."""
        return self.generation_state().value

    def generation_state(self) -> Generation:
        """The current generation: its stamp, its place in the change log, the chunks it holds."""
        got = self.meta.get(ids=[_GEN_ID], include=["metadatas"])
        if not got["ids"] or not got["metadatas"][0]:
            return Generation("", 0, 0)
        meta = got["metadatas"][0]
        value = str(meta.get("value", ""))
        return Generation(value, _seq_of(value), int(meta.get("chunks", -1)))

    def log_change(
        self,
        sources: Collection[str],
        since: Generation,
        *,
        everything: bool = False,
        chunk_ids: Mapping[str, Sequence[str]] | None = None,
    ) -> Generation:
        """Record that the chunks of ``sources`` changed and move the generation past ``since``.

        Called by the one indexer holding the lock, after the chunk writes of those sources and
        before their source records (``index.indexer``). ``everything``: readers rebuild their
        keyword index in full (after a repair run, whose changes are not listed).
        ``chunk_ids``: each source's chunk ids after the change (none for a removed source), so
        readers fetch them by id instead of filtering every chunk by source.
        """
        seq = since.seq + 1
        value = f"{seq}.{secrets.token_hex(6)}"
        chunks = self.count()
        entry = {
            "seq": seq,
            "prev": since.value,
            "value": value,
            "sources": json.dumps(sorted(sources)),
            "everything": everything,
        }
        if chunk_ids is not None:
            entry["chunks"] = json.dumps({s: list(chunk_ids.get(s, ())) for s in sorted(sources)})
        self.meta.upsert(
            ids=[_log_id(seq), _GEN_ID],
            embeddings=[[_unit_hash(_log_id(seq))], [0.0]],
            metadatas=[entry, {"value": value, "chunks": chunks, "updated_at": time.time()}],
        )
        if seq > LOG_KEEP and seq % _PRUNE_EVERY == 0:  # in one call, not one per entry
            old = range(max(1, seq - LOG_KEEP - _PRUNE_EVERY + 1), seq - LOG_KEEP + 1)
            self.meta.delete(ids=[_log_id(n) for n in old])
        return Generation(value, seq, chunks)

    def chunk_ids_since(self, value: str, target: Generation) -> dict[str, list[str] | None] | None:
        """Each source changed between ``value`` and ``target``, with its chunk ids at ``target``.

        A source's ids are None when its last entry did not list them (an older writer). None
        for the whole when the log cannot tell (a generation from before the log, another
        store's, too far back, a gap, or a repair run): the caller then rebuilds from all chunks.
        """
        start = _seq_of(value)
        if not start or not target.seq or target.seq <= start or target.seq - start > LOG_KEEP:
            return None
        ids = [_log_id(seq) for seq in range(start + 1, target.seq + 1)]
        entries: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), self.batch):
            got = self.meta.get(ids=ids[i : i + self.batch], include=["metadatas"])
            for meta in got["metadatas"]:
                if meta:
                    entries[int(meta["seq"])] = meta
        changed: dict[str, list[str] | None] = {}
        previous = value
        for seq in range(start + 1, target.seq + 1):
            entry = entries.get(seq)
            if entry is None or entry.get("prev") != previous or entry.get("everything"):
                return None
            listed = json.loads(str(entry.get("chunks") or "{}"))
            for source in json.loads(str(entry["sources"])):
                changed[source] = listed.get(source)  # a later entry's ids replace an earlier's
            previous = str(entry["value"])
        return changed if previous == target.value else None

    def run_unfinished(self) -> bool:
        """True when an index run wrote to the store and never finished (a crash)."""
        return bool(self.meta.get(ids=[_RUN_ID], include=[])["ids"])

    def mark_run(self, owner: str) -> None:
        """Note that an index run is writing (cleared by :meth:`unmark_run` when it ends)."""
        self.meta.upsert(
            ids=[_RUN_ID],
            embeddings=[[_unit_hash(_RUN_ID)]],
            metadatas=[{"owner": owner, "started": time.time()}],
        )

    def unmark_run(self) -> None:
        """Note that the index run finished."""
        self.meta.delete(ids=[_RUN_ID])

    # index lease (see index.lock.IndexLease) --------------------------------------------------
    def read_lease(self) -> dict[str, Any] | None:
        """The current lease record (owner, expires), or None."""
        got = self.meta.get(ids=[_LEASE_ID], include=["metadatas"])
        if not got["ids"] or not got["metadatas"][0]:
            return None
        meta = got["metadatas"][0]
        return {"owner": str(meta.get("owner", "")), "expires": float(meta.get("expires", 0))}

    def write_lease(self, owner: str, expires: float) -> None:
        """Claim or renew the lease."""
        self.meta.upsert(
            ids=[_LEASE_ID],
            embeddings=[[_unit_hash(_LEASE_ID)]],
            metadatas=[{"owner": owner, "expires": expires}],
        )

    def delete_lease(self) -> None:
        """Give the lease up."""
        self.meta.delete(ids=[_LEASE_ID])

    def server_time(self) -> float:
        """Seconds on the Chroma server's clock (its heartbeat), so clients' clocks may differ."""
        return float(self.client.heartbeat()) / 1e9

    def _pages(
        self, collection: Any, include: list[str]
    ) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
        offset = 0
        while True:
            got = collection.get(limit=self.batch, offset=offset, include=include)
            ids = got["ids"]
            if not ids:
                return
            docs = got.get("documents") or [None] * len(ids)
            metas = got.get("metadatas") or [{}] * len(ids)
            yield ids, docs, metas
            offset += len(ids)


def _source_filter(sources: Collection[str] | None) -> dict[str, Any] | None:
    """Chroma's ``where`` for chunks of ``sources`` (None when not limited)."""
    if not sources:  # an empty scope means every source
        return None
    return _in_filter("source", sorted(sources))


def _in_filter(key: str, values: Sequence[str]) -> dict[str, Any]:
    """Chroma's ``where`` for ``key`` in ``values`` (Chroma wants ``$in`` for two or more)."""
    return {key: values[0]} if len(values) == 1 else {key: {"$in": list(values)}}


def _chunks(got: dict[str, Any]) -> list[Chunk]:
    """The chunks of a Chroma ``get`` that included documents and metadatas."""
    return [
        Chunk.from_record(i, d or "", m)
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]


def _log_id(seq: int) -> str:
    return f"log:{seq}"


def _seq_of(value: str) -> int:
    """The change-log sequence in a generation stamp (0 for stamps from before the log)."""
    head, dot, _rest = value.partition(".")
    return int(head) if dot and head.isdigit() else 0


def _unit_hash(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _source_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:32]
