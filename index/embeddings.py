"""The packaged all-MiniLM-L6-v2 model as a LangChain ``Embeddings``, loaded from disk."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from core.errors import ConfigError
from index.model import MODEL_NAME, OnnxEncoder, load_onnx, mean_pool, packaged_model_dir
from index.sentence_vectors import pool_spans

log = logging.getLogger(__name__)


# Padding one text up to a pass's longest costs about this many tokens' work before a pass of
# its own is cheaper (a pass's fixed cost: ~7 ms, against ~0.15 ms a token on this CPU; see
# bench/embedding_passes.py).
PASS_SPLIT_TOKENS = 40


def passes(lengths: list[int], batch_size: int, split: int = PASS_SPLIT_TOKENS) -> list[list[int]]:
    """Group text indices into model passes: longest first, at most ``batch_size`` a pass.

    A pass is padded to its longest text, so a text ``split`` tokens shorter than that starts
    a new pass. A question's re-scored sentences (say 220, 45, 25 and 11 tokens) then take
    two passes instead of padding all four to 220 tokens.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    for i in order:
        current = out[-1] if out else None
        if (
            current is None
            or len(current) >= batch_size
            or lengths[current[0]] - lengths[i] > split
        ):
            out.append([i])
        else:
            current.append(i)
    return out


class LocalEmbeddings(Embeddings):
    """The packaged model, run by ONNX Runtime (default) or sentence-transformers on PyTorch.

    Both give the same normalised vectors (mean pooling, as the model was trained); ONNX is
    faster here (see ``index.model``). Texts are embedded in length-sorted batches.
    """

    def __init__(
        self, model_dir: Path | None = None, batch_size: int = 32, backend: str = "onnx"
    ) -> None:
        # Set before sentence-transformers/transformers read them: nothing may reach a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if backend not in ("onnx", "torch"):
            raise ConfigError(f"QA_EMBEDDING_BACKEND must be onnx or torch, not {backend!r}.")
        self.model_dir = model_dir or packaged_model_dir()
        self.batch_size = batch_size
        self.name = MODEL_NAME
        self.dimension = int(
            json.loads((self.model_dir / "config.json").read_text())["hidden_size"]
        )
        # Neither runtime is safe to enter from several threads at once (Streamlit sessions).
        self._lock = threading.Lock()
        self._onnx: OnnxEncoder | None = None
        self._model: Any = None
        if backend == "onnx":
            try:
                self._onnx = load_onnx(self.model_dir)
            except Exception as exc:  # no export possible: PyTorch still gives the same vectors
                log.warning("ONNX backend unavailable (%s); using PyTorch", exc)
        if self._onnx is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise
            self._model = SentenceTransformer(str(self.model_dir), device="cpu")
        self.backend = "onnx" if self._onnx is not None else "torch"

    def _onnx_passes(
        self, texts: list[str]
    ) -> Iterator[tuple[list[int], np.ndarray, np.ndarray, list[list[tuple[int, int]]]]]:
        """Length-sorted batches through the ONNX graph: indices, token vectors, mask, offsets.

        Sorted by tokens, not characters: code, tables and numbers take more tokens per
        character than prose, and each batch is padded to its longest member (by characters,
        a PDF manual's batches were 37% padding; by tokens, 13%). See :func:`passes`.
        """
        assert self._onnx is not None
        for batch in passes(self._onnx.token_counts(texts), self.batch_size):
            with self._lock:
                hidden, mask, offsets = self._onnx.run([texts[i] for i in batch])
            yield batch, hidden, mask, offsets

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Each text's length in the model's tokens (characters under PyTorch), for batching."""
        if self._onnx is None or len(texts) <= self.batch_size:
            return [len(t) for t in texts]  # one batch (or no tokenizer at hand): order is moot
        return self._onnx.token_counts(texts)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._onnx is not None:
            out = np.empty((len(texts), self.dimension), dtype=np.float32)
            for batch, hidden, mask, _offsets in self._onnx_passes(texts):
                out[batch] = mean_pool(hidden, mask)
            return out.tolist()  # type: ignore[no-any-return]
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
        """Embed passages."""
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._encode([text])[0]

    def embed_with_sentences(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[np.ndarray]]:
        """Chunk vectors (same as :meth:`embed_documents`) plus pooled sentence vectors.

        One forward pass per text: the chunk vector is the model's usual mean pooling over
        all tokens; each span's vector pools the same token embeddings over the span only
        (see ``index.sentence_vectors``).

        Args:
            texts: Chunk texts.
            spans: For each text, the character spans of its sentences.

        Returns:
            The normalised chunk vectors and, per text, a ``(len(spans), dim)`` array.

        """
        if not texts:
            return [], []
        if self._onnx is None:
            return self._torch_with_sentences(texts, spans)
        chunk_vectors: list[list[float]] = [[] for _ in texts]
        sentence_vectors: list[np.ndarray] = [np.zeros(0) for _ in texts]
        for batch, hidden, mask, offsets in self._onnx_passes(texts):
            pooled = mean_pool(hidden, mask)
            for row, i in enumerate(batch):
                chunk_vectors[i] = pooled[row].tolist()
                sentence_vectors[i] = pool_spans(hidden[row], offsets[row], spans[i])
        return chunk_vectors, sentence_vectors

    def _torch_with_sentences(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[np.ndarray]]:
        import torch

        model = self._model
        with self._lock:
            outputs = model.encode(
                texts, batch_size=self.batch_size, output_value=None, show_progress_bar=False
            )
        tokenized = model.tokenizer(
            texts, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length
        )
        chunk_vectors: list[list[float]] = []
        sentence_vectors: list[np.ndarray] = []
        for out, offsets, text_spans in zip(
            outputs, tokenized["offset_mapping"], spans, strict=True
        ):
            vec = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=0)
            chunk_vectors.append(vec.tolist())
            n_tokens = int(out["attention_mask"].sum())
            tokens = out["token_embeddings"][:n_tokens].float().numpy()
            if n_tokens != len(offsets):  # tokenizers disagree: leave these to the answerer
                sentence_vectors.append(np.zeros((len(text_spans), self.dimension), np.float32))
                continue
            sentence_vectors.append(pool_spans(tokens, offsets, text_spans))
        return chunk_vectors, sentence_vectors


def embedding_name(embeddings: Embeddings) -> str:
    """A name recorded in the store so that vectors of different models never mix."""
    name = getattr(embeddings, "name", None)
    if isinstance(name, str):
        return name
    size = getattr(embeddings, "size", None)
    return f"{type(embeddings).__name__}{'-' + str(size) if size else ''}"
