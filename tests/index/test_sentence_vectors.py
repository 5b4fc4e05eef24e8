"""Sentence vectors pooled at index time: packing, pooling, and their use by the answerer."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.types import SourceText
from index import sentence_vectors as sv
from index.chunking import chunk_source
from index.text import sentence_spans


def test_pack_and_unpack_keep_direction() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[3] = 0.0  # "not pooled" rows survive as zero rows
    back = sv.decode(sv.encode(vectors))
    assert back is not None and back.shape == (7, 384)
    kept = [i for i in range(7) if i != 3]
    assert np.min(np.sum(back[kept] * vectors[kept], axis=1)) > 0.9999
    assert not back[3].any()
    assert len(sv.encode(vectors)) < 7 * 384 * 1.4 + 100  # about 1 byte a dimension


@pytest.mark.parametrize("blob", ["", "not base64!", "AAAA", sv.encode(np.ones((2, 4)))[:-8]])
def test_malformed_blobs_are_rejected(blob: str) -> None:
    assert sv.decode(blob) is None


def test_pooling_averages_the_tokens_inside_each_span() -> None:
    tokens = np.array([[9.0, 9.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [9.0, 9.0]])
    offsets = [(0, 0), (0, 3), (4, 7), (9, 12), (0, 0)]  # special tokens have empty spans
    pooled = sv.pool_spans(tokens, offsets, [(0, 8), (9, 12), (20, 30)])
    assert np.allclose(pooled[0], [1.0, 0.0])  # mean (2, 0), normalised; specials left out
    assert np.allclose(pooled[1], [0.0, 1.0])
    assert not pooled[2].any()  # no tokens (past the model's length limit): zero row


def test_spans_are_the_answerers_units_in_the_embedded_text() -> None:
    text = "# Arrivals\n\nDr. Smith arrived. “We are done. Truly,” she said.\n\nNext line here."
    (chunk,) = chunk_source(SourceText("a.md", text, "markdown"))
    assert chunk.section == "Arrivals"
    embedded = chunk.embed_text()
    pieces = [embedded[a:b] for a, b in sv.unit_spans(chunk)]
    assert pieces == [chunk.text[u.start : u.end] for u in chunk.units]
    assert pieces == [
        "Arrivals",
        "Dr. Smith arrived.",
        "“We are done. Truly,” she said.",
        "Next line here.",
    ]


class PoolingFake(DeterministicFakeEmbedding):
    """A fake model with the packaged model's one-pass interface, counting texts embedded."""

    calls: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return super().embed_documents(texts)

    def embed_with_sentences(self, texts, spans):  # type: ignore[no-untyped-def]
        chunk_vectors = super().embed_documents(texts)
        sentences = [
            np.array(super(PoolingFake, self).embed_documents([t[a:b] for a, b in ss]))
            for t, ss in zip(texts, spans, strict=True)
        ]
        return chunk_vectors, [s / np.linalg.norm(s, axis=1, keepdims=True) for s in sentences]


@pytest.mark.parametrize("rerank_top", [0, 3])
def test_answers_use_stored_sentence_vectors(sources_dir, make_service, rerank_top) -> None:
    fake = PoolingFake(size=32)
    service = make_service(sources_dir, fake, answering={"rerank_top": rerank_top})
    service.index()
    ids = [c.id for c in service.store.iter_chunks()]
    stored = service.engine.sentence_vectors(ids)
    assert set(stored) == set(ids)
    fake.calls = 0
    answer = service.ask("Who resigned over the data-sharing agreement?")
    assert answer.citations or answer.related
    # Only the leading sentences are embedded on their own at question time, once each.
    assert (fake.calls == 0) if rerank_top == 0 else (0 < fake.calls <= rerank_top)
    before = fake.calls
    service.ask("Who resigned over the data-sharing agreement?")
    assert fake.calls == before


def test_stores_without_sentence_vectors_still_answer(sources_dir, make_service) -> None:
    fake = PoolingFake(size=32)
    service = make_service(sources_dir, fake)
    service.index()
    ids = [c.id for c in service.store.iter_chunks()]
    service.store.delete_sentence_vectors(ids)  # as in a store indexed by an older version
    fake.calls = 0
    answer = service.ask("Who resigned over the data-sharing agreement?")
    assert answer.citations or answer.related
    assert fake.calls > 0  # sentences embedded on demand instead


def test_deleted_and_edited_chunks_take_their_sentence_vectors_along(
    sources_dir, make_service
) -> None:
    service = make_service(sources_dir, PoolingFake(size=32))
    service.index()
    victim = next(sources_dir.glob("004_*"))
    victim.unlink()
    path = sources_dir / "000_9bb67ea3e936fa88.txt"
    path.write_text("A new first sentence was added here.\n" + path.read_text())
    service.index()
    chunk_ids = {c.id for c in service.store.iter_chunks()}
    assert service.store.sentence_vector_ids() == chunk_ids


@pytest.mark.integration
def test_packaged_model_pools_sentences_in_the_chunk_pass(real_embeddings) -> None:
    text = (
        "The court ruled on Tuesday. Former acting commissioner Melanie Krause resigned over "
        "the data-sharing agreement. The weather in the capital was mild."
    )
    spans = sentence_spans(text)
    chunk_vectors, sentences = real_embeddings.embed_with_sentences([text], [spans])
    assert np.allclose(chunk_vectors[0], real_embeddings.embed_documents([text])[0], atol=1e-5)
    assert sentences[0].shape == (3, len(chunk_vectors[0]))
    question = np.array(real_embeddings.embed_query("Who resigned over the agreement?"))
    assert int(np.argmax(sentences[0] @ question)) == 1
