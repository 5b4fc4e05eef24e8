"""BM25 over the same chunks as Chroma, cached on disk beside the store and keyed by generation."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.store import Store
from index.text import tokenize


class LexicalIndex:
    """A bm25s index (stemmed, stop words removed) plus the chunk ids it was built from."""

    def __init__(self, ids: list[str], model: object, generation: str) -> None:
        self.ids = ids
        self.generation = generation
        self._bm25 = model
        vocab: dict[str, int] = getattr(model, "vocab_dict", {}) or {}
        self._vocab = vocab
        self._df = self._document_frequencies()

    @classmethod
    def build(cls, items: Iterable[tuple[str, str]], generation: str) -> LexicalIndex:
        """Index ``(chunk_id, text)`` pairs."""
        import bm25s

        ids: list[str] = []
        corpus: list[list[str]] = []
        for chunk_id, text in items:
            ids.append(chunk_id)
            corpus.append(tokenize(text))
        model = bm25s.BM25(k1=1.2, b=0.75)
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
        n = max(len(self.ids), 1)
        df = self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

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

    def save(self, folder: Path) -> None:
        """Write atomically: build in a temporary folder, then swap it in."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self._bm25.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
        (tmp / "ids.json").write_text(json.dumps({"generation": self.generation, "ids": self.ids}))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The cached index, or None when absent or unreadable (it is then rebuilt)."""
        import bm25s

        try:
            meta = json.loads((folder / "ids.json").read_text())
            ids = list(meta["ids"])
            model = bm25s.BM25.load(str(folder), show_progress=False) if ids else bm25s.BM25()
            return cls(ids, model, str(meta["generation"]))
        except (OSError, ValueError, KeyError):
            return None


def lexical_dir(store_dir: Path) -> Path:
    """Where the lexical cache of a store lives."""
    return store_dir / "lexical"


def refresh_lexical(store: Store, store_dir: Path, generation: str) -> LexicalIndex:
    """Return the lexical index for ``generation``: the disk cache, or rebuilt from the store.

    The indexer calls it at the end of a run; readers call it when the generation moved (another
    process re-indexed), so both see the same index.
    """
    folder = lexical_dir(store_dir)
    cached = LexicalIndex.load(folder)
    if cached is not None and cached.generation == generation:
        return cached
    built = LexicalIndex.build(((c.id, c.embed_text()) for c in store.iter_chunks()), generation)
    # A read-only store still answers; the index is then rebuilt in memory next time.
    with contextlib.suppress(OSError):
        built.save(folder)
    return built
