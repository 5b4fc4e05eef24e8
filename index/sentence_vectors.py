"""Sentence vectors computed with the chunk's own forward pass, stored compactly beside it.

The extractive answerer scores every sentence of the retrieved chunks against the question.
Embedding those sentences at question time cost 10-25 model calls per answer; instead, the
indexer keeps the token embeddings of each chunk's forward pass (which it needs anyway for the
chunk vector) and mean-pools them over each sentence's character span ("late chunking"). The
chunk vector is unchanged, so retrieval is unaffected, and the sentence vectors cost no extra
model time. They are stored as int8 with one scale per vector (cosine error ~1e-4).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from core.types import Chunk

# Stored in the vectors' record so a change of pooling or encoding is never read as valid.
FORMAT = "late-mean-int8-v2"  # v2: one vector per unit of the chunk (index.structure)


def unit_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Spans of the chunk's units in :meth:`Chunk.embed_text` (what the model reads)."""
    shift = len(chunk.embed_text()) - len(chunk.text)
    return [(u.start + shift, u.end + shift) for u in chunk.units]


def pool_spans(
    token_vectors: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Mean of the token vectors inside each span, L2-normalised.

    Args:
        token_vectors: ``(tokens, dim)`` output of the transformer for one text.
        offsets: Character span of each token; special tokens have an empty span.
        spans: Character spans to pool over.

    Returns:
        ``(len(spans), dim)`` float32; a span with no tokens (cut off by the model's maximum
        length) gets a zero row, which readers treat as "not available".

    """
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = ends > starts
    out = np.zeros((len(spans), token_vectors.shape[1]), dtype=np.float32)
    for row, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        if inside.any():
            vec = token_vectors[inside].mean(axis=0)
            out[row] = vec / (np.linalg.norm(vec) or 1.0)
    return out


def encode(vectors: np.ndarray) -> str:
    """Pack ``(n, dim)`` unit vectors as base64 int8 with one float32 scale per row."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(vectors).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    q = np.rint(vectors / scale).astype(np.int8)
    header = np.array(vectors.shape, dtype=np.int32).tobytes()
    return base64.b64encode(header + scale.astype(np.float32).tobytes() + q.tobytes()).decode()


def decode(blob: str) -> np.ndarray | None:
    """Unpack :func:`encode`'s output; ``None`` for anything malformed."""
    try:
        raw = base64.b64decode(blob.encode(), validate=True)
        n, dim = (int(x) for x in np.frombuffer(raw[:8], dtype=np.int32))
        scale = np.frombuffer(raw[8 : 8 + 4 * n], dtype=np.float32).reshape(n, 1)
        q = np.frombuffer(raw[8 + 4 * n :], dtype=np.int8).reshape(n, dim)
    except (ValueError, TypeError):
        return None
    out = q.astype(np.float32) * scale
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms
