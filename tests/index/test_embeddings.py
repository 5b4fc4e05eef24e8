"""The two runtimes of the packaged model give the same vectors, so stores serve either."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from index.embeddings import LocalEmbeddings
from index.text import sentence_spans

pytestmark = pytest.mark.integration

TEXTS = [
    "US District Judge Dabney Friedrich denied the request. The groups said they would appeal.",
    "Former acting commissioner Melanie Krause resigned over the data-sharing agreement.",
    "A short one.",
    " ".join(["A very long chunk that runs past the model's limit of 256 word pieces."] * 30),
]


def test_onnx_and_pytorch_give_the_same_vectors(real_embeddings: LocalEmbeddings) -> None:
    assert real_embeddings.backend == "onnx"  # the default, exported at install
    torch = LocalEmbeddings(backend="torch")
    spans = [sentence_spans(t) for t in TEXTS]
    onnx_chunks, onnx_sentences = real_embeddings.embed_with_sentences(TEXTS, spans)
    torch_chunks, torch_sentences = torch.embed_with_sentences(TEXTS, spans)
    assert np.abs(np.array(onnx_chunks) - np.array(torch_chunks)).max() < 1e-4
    assert np.allclose(onnx_chunks, real_embeddings.embed_documents(TEXTS), atol=1e-6)
    for a, b in zip(onnx_sentences, torch_sentences, strict=True):
        pooled = a.any(axis=1)
        assert (pooled == b.any(axis=1)).all()  # the same sentences fall past the limit
        assert np.min(np.sum(a[pooled] * b[pooled], axis=1)) > 0.9999
    assert not onnx_sentences[3][-1].any()  # the long chunk's last sentence was cut off
    query = "Who resigned over the agreement?"
    assert np.allclose(real_embeddings.embed_query(query), torch.embed_query(query), atol=1e-4)


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="QA_EMBEDDING_BACKEND"):
        LocalEmbeddings(backend="tensorflow")


def test_batches_are_sorted_by_tokens_and_vectors_do_not_depend_on_them(
    real_embeddings: LocalEmbeddings,
) -> None:
    # Code packs more tokens into fewer characters than prose: by tokens it is the longer one.
    code = "x[0][1]=f(a,b);y=g(c,d);" * 8
    prose = "The harbour of the town was busy every morning of the year. " * 4
    assert len(code) < len(prose)
    many = [prose, code] * 20  # more than one batch, so the order is worked out
    lengths = real_embeddings.token_lengths(many)
    assert lengths[1] > lengths[0]
    together = np.array(real_embeddings.embed_documents(many))
    alone = np.array([real_embeddings.embed_query(t) for t in (prose, code)])
    assert np.allclose(together[0::2], alone[0], atol=1e-5)
    assert np.allclose(together[1::2], alone[1], atol=1e-5)
