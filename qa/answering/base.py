"""What every answerer shares: the protocol the service dispatches through and the refusal text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from core.settings import RetrieverMode
from core.types import Answer, Chunk, ScoredChunk, Turn
from index.lexical import Lexical

REFUSAL = "The sources don't answer this."


class Answerer(Protocol):
    """Answers a question from the index with verified quotes only."""

    name: str

    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        """Answer ``question``; ``history`` holds earlier questions of the conversation."""
        ...

    def stream(self, question: str, history: list[Turn] | None = None) -> Iterator[str | Answer]:
        """Yield draft text deltas (unverified, possibly none), then the verified ``Answer``."""
        ...


class Searcher(Protocol):
    """What answerers need from retrieval (``qa.retrieval.SearchEngine`` fits)."""

    embeddings: Embeddings

    def search(self, query: str, k: int, mode: RetrieverMode = ...) -> list[ScoredChunk]: ...  # noqa: D102

    def lexical(self) -> Lexical: ...  # noqa: D102

    def source_chunks(self, source: str) -> list[Chunk]: ...  # noqa: D102

    def source_titles(self) -> dict[str, str]: ...  # noqa: D102

    def query_vector(self, query: str) -> list[float]: ...  # noqa: D102

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]: ...  # noqa: D102

    def snapshot(self, generation: str | None = None) -> AbstractContextManager[str]: ...  # noqa: D102
