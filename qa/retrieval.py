"""Dense (Chroma), lexical (BM25) and hybrid retrieval; a LangChain ``BaseRetriever`` at the edge."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.indexer import refresh_lexical
from index.lexical import LexicalIndex
from index.store import Store
from qa.domain import Chunk, ScoredChunk

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")


class SearchEngine:
    """Holds the store, the query model and the lexical cache; thread-safe for queries."""

    def __init__(
        self,
        store: Store,
        embeddings: Embeddings,
        store_dir: Path,
        *,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        fetch_k: int = 50,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.store_dir = store_dir
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.fetch_k = fetch_k
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()

    def lexical(self) -> LexicalIndex:
        """The lexical index matching the store's current generation (reloaded after re-index)."""
        generation = self.store.generation()
        with self._lock:
            if self._lexical is None or self._lexical.generation != generation:
                self._lexical = refresh_lexical(self.store, self.store_dir, generation)
            return self._lexical

    def dense(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity of the query embedding."""
        return self.store.query(self.embeddings.embed_query(query), k)

    def bm25(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Chunks by BM25 score."""
        hits = self.lexical().search(query, k)
        chunks = {c.id: c for c in self.store.get_chunks([i for i, _ in hits])}
        return [(chunks[i], s) for i, s in hits if i in chunks]

    def search(self, query: str, k: int, mode: Mode = "hybrid") -> list[ScoredChunk]:
        """Top ``k`` chunks for ``query`` with the chosen method.

        Hybrid fuses the dense and BM25 rankings by weighted reciprocal rank.
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
        depth = max(k, self.fetch_k)
        dense = self.dense(query, depth)
        lexical = self.bm25(query, depth)
        fused: dict[str, float] = {}
        chunks: dict[str, Chunk] = {}
        dense_scores: dict[str, float] = {}
        lexical_scores: dict[str, float] = {}
        for weight, ranking, scores in (
            (self.dense_weight, dense, dense_scores),
            (self.lexical_weight, lexical, lexical_scores),
        ):
            for rank, (chunk, score) in enumerate(ranking):
                chunks[chunk.id] = chunk
                scores[chunk.id] = score
                fused[chunk.id] = fused.get(chunk.id, 0.0) + weight / (self.rrf_k + rank + 1)
        order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [
            ScoredChunk(
                chunk=chunks[i],
                score=fused[i],
                rank=r,
                dense=dense_scores.get(i),
                lexical=lexical_scores.get(i),
            )
            for r, i in enumerate(order)
        ]


def to_document(hit: ScoredChunk) -> Document:
    """The LangChain edge: a retrieved chunk as a ``Document`` with flat metadata."""
    meta = {**hit.chunk.metadata(), "chunk_id": hit.chunk.id, "score": hit.score, "rank": hit.rank}
    return Document(page_content=hit.chunk.text, metadata=meta, id=hit.chunk.id)


class PassageRetriever(BaseRetriever):
    """LangChain retriever over the index, so it plugs into LangChain chains."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: SearchEngine
    k: int = 6
    mode: Mode = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(h) for h in self.engine.search(query, self.k, self.mode)]
