"""Dense (Chroma), lexical (BM25) and hybrid retrieval over the index."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from core.settings import RetrievalSettings, RetrieverMode
from core.types import Chunk, ScoredChunk
from index import sentence_vectors
from index.lexical import Lexical, LexicalStore, MemoryLexical, open_lexical
from index.store import Store

Mode = RetrieverMode
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")


class SearchEngine:
    """Holds the store, the query model and the lexical cache; thread-safe for queries.

    Hybrid search fuses the dense and BM25 rankings. The default, ``fusion="score"``, is a
    weighted sum of min-max normalised scores over the top ``fetch_k`` of each ranking (a chunk
    missing from one ranking gets 0 from that side); ``fusion="rrf"`` is weighted reciprocal
    rank fusion. The knobs are ``core.settings.RetrievalSettings``.
    """

    def __init__(
        self,
        store: Store,
        embeddings: Embeddings,
        store_dir: Path,
        config: RetrievalSettings | None = None,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.store_dir = store_dir
        cfg = config or RetrievalSettings()
        self.fusion = cfg.fusion
        self.rrf_k = cfg.rrf_k
        self.dense_weight = cfg.dense_weight
        self.lexical_weight = cfg.lexical_weight
        self.fetch_k = cfg.fetch_k
        self._lexical: LexicalStore | None = None
        # Lexical indexes over a scope (some sources), by (generation, scope); a few are kept.
        self._scoped: OrderedDict[tuple[str, frozenset[str]], MemoryLexical] = OrderedDict()
        self._lock = threading.Lock()
        self._pinned = threading.local()
        self._query_vectors: OrderedDict[str, list[float]] = OrderedDict()

    @contextmanager
    def snapshot(self, generation: str | None = None) -> Iterator[str]:
        """Read the store's generation once for everything done inside (one question).

        Without it every lexical lookup asks Chroma for the generation again. Pinned per
        thread, since Streamlit answers sessions in threads sharing this engine.
        """
        current = getattr(self._pinned, "generation", None)
        if current is not None:
            yield current
            return
        self._pinned.generation = generation if generation is not None else self.store.generation()
        try:
            yield self._pinned.generation
        finally:
            self._pinned.generation = None

    @contextmanager
    def scope(self, sources: Collection[str] | None) -> Iterator[frozenset[str] | None]:
        """Limit everything done inside (one question) to chunks of ``sources``.

        Dense and BM25 rankings, the lexical statistics (idf, coverage) and the titles a
        summary picks from all see only those sources. None or empty: every source. Pinned per
        thread, like :meth:`snapshot`.
        """
        previous = getattr(self._pinned, "scope", None)
        self._pinned.scope = frozenset(sources) if sources else None
        try:
            yield self._pinned.scope
        finally:
            self._pinned.scope = previous

    def _scope(self) -> frozenset[str] | None:
        return getattr(self._pinned, "scope", None)

    def query_vector(self, query: str) -> list[float]:
        """The query's embedding; the last few are kept, as retrieval and answering share it."""
        with self._lock:
            cached = self._query_vectors.get(query)
        if cached is not None:
            return cached
        vector = self.embeddings.embed_query(query)
        with self._lock:
            self._query_vectors[query] = vector
            while len(self._query_vectors) > 64:
                self._query_vectors.popitem(last=False)
        return vector

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Sentence vectors stored at index time, by chunk id (absent ids: not stored)."""
        model = self.store.model
        blobs = self.store.get_sentence_vectors(chunk_ids, model, sentence_vectors.FORMAT)
        out = {}
        for chunk_id, blob in blobs.items():
            vectors = sentence_vectors.decode(blob)
            if vectors is not None:
                out[chunk_id] = vectors
        return out

    def source_chunks(self, source: str) -> list[Chunk]:
        """Every chunk of one source, in reading order (for summaries)."""
        return self.store.source_chunks(source)

    def source_titles(self) -> dict[str, str]:
        """Each indexed source's title (its file name when it has none), within the scope."""
        scope = self._scope()
        return {
            s: r.title or s
            for s, r in self.store.source_records().items()
            if r.status == "ok" and (scope is None or s in scope)
        }

    def lexical(self) -> Lexical:
        """Return the keyword index, brought up to the store's generation when it moved.

        Only the sources changed since are re-read (``LexicalStore.sync``), so following
        another process's re-index costs in proportion to what it changed.
        """
        generation = getattr(self._pinned, "generation", None)
        if generation is None:
            generation = self.store.generation()
        scope = self._scope()
        if scope is not None:
            return self._scoped_lexical(generation, scope)
        with self._lock:
            if self._lexical is None:
                self._lexical = open_lexical(self.store_dir)
            if self._lexical.generation != generation:
                self._lexical.sync(self.store)
            return self._lexical

    def _scoped_lexical(self, generation: str, scope: frozenset[str]) -> MemoryLexical:
        """BM25 over the chunks of ``scope`` only, so its idf is the scope's, not the store's."""
        key = (generation, scope)
        with self._lock:
            hit = self._scoped.get(key)
            if hit is not None:
                self._scoped.move_to_end(key)
                return hit
        chunks = sorted(self.store.chunks_of_sources(scope), key=lambda c: (c.source, c.start))
        built = MemoryLexical.build(((c.id, c.embed_text()) for c in chunks), generation)
        with self._lock:
            self._scoped[key] = built
            while len(self._scoped) > 8:
                self._scoped.popitem(last=False)
        return built

    def dense(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity of the query embedding."""
        return self.store.query(self.query_vector(query), k, self._scope())

    def bm25(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Chunks by BM25 score."""
        hits = self.lexical().search(query, k)
        chunks = {c.id: c for c in self.store.get_chunks([i for i, _ in hits])}
        return [(chunks[i], s) for i, s in hits if i in chunks]

    def search(self, query: str, k: int, mode: Mode = "hybrid") -> list[ScoredChunk]:
        """Top ``k`` chunks for ``query`` with the chosen method.

        Args:
            query: The question or search text.
            k: How many chunks to return.
            mode: ``dense``, ``bm25`` or ``hybrid`` (both, fused as configured).

        Returns:
            Chunks best first, with the fused score and each side's raw score.

        """
        if mode == "dense":
            return [
                ScoredChunk(chunk=c, score=s, rank=r, dense=s)
                for r, (c, s) in enumerate(self.dense(query, k))
            ]
        if mode == "bm25":
            return [
                ScoredChunk(chunk=c, score=s, rank=r, lexical=s)
                for r, (c, s) in enumerate(self.bm25(query, k))
            ]
        return self.hybrid(query, k)

    def hybrid(self, query: str, k: int) -> list[ScoredChunk]:
        """Fuse the dense and BM25 rankings (each ``max(k, fetch_k)`` deep) into the top ``k``."""
        depth = max(k, self.fetch_k)
        # Rank on ids and scores only; texts are fetched for the k winners alone.
        rankings = (
            self.store.query_ids(self.query_vector(query), depth, self._scope()),
            self.lexical().search(query, depth),
        )
        weights = (self.dense_weight, self.lexical_weight)
        raw: tuple[dict[str, float], dict[str, float]] = ({}, {})
        fused: dict[str, float] = {}
        for weight, ranking, scores in zip(weights, rankings, raw, strict=True):
            if self.fusion == "rrf":
                parts = _rrf(ranking, self.rrf_k)
            else:
                parts = _minmax(ranking, self.fetch_k)
            for (chunk_id, score), part in zip(ranking, parts, strict=True):
                scores[chunk_id] = score
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * part
        top = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        # A chunk deleted by an indexer in another process may still be ranked; it is skipped.
        chunks = {c.id: c for c in self.store.get_chunks(top)}
        order = [i for i in top if i in chunks]
        return [
            ScoredChunk(
                chunk=chunks[i],
                score=fused[i],
                rank=r,
                dense=raw[0].get(i),
                lexical=raw[1].get(i),
            )
            for r, i in enumerate(order)
        ]


def _minmax(ranking: Sequence[tuple[object, float]], depth: int) -> list[float]:
    """Scores scaled to [0, 1] by the top score and the score at ``depth``, clipped at 0.

    Fixing the depth keeps the scale, hence the order of the top results, the same however
    many results are asked for.
    """
    if not ranking:
        return []
    hi = ranking[0][1]
    lo = min(s for _, s in ranking[:depth])
    if hi <= lo:
        return [1.0] * len(ranking)
    return [max(0.0, (s - lo) / (hi - lo)) for _, s in ranking]


def _rrf(ranking: Sequence[tuple[object, float]], rrf_k: int) -> list[float]:
    """Reciprocal-rank contributions ``1 / (rrf_k + rank)`` with 1-based ranks."""
    return [1.0 / (rrf_k + r + 1) for r in range(len(ranking))]
