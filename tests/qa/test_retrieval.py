"""SearchEngine modes (fake embeddings, real Chroma)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from qa.retrieval import MODES, SearchEngine
from qa.service import QAService


@pytest.fixture
def engine(
    sources_dir: Path, fake_embeddings: Embeddings, make_service: Callable[..., QAService]
) -> SearchEngine:
    service = make_service(sources_dir, fake_embeddings)
    service.index()
    return service.engine


@pytest.mark.parametrize("mode", MODES)
def test_hits_carry_exact_offsets(engine: SearchEngine, sources_dir: Path, mode: str) -> None:
    hits = engine.search("Who resigned over the data-sharing agreement?", 3, mode)  # type: ignore[arg-type]
    assert 0 < len(hits) <= 3
    for hit in hits:
        text = (sources_dir / hit.chunk.source).read_text(encoding="utf-8")
        assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_ranks_best_first(engine: SearchEngine, mode: str) -> None:
    hits = engine.search("data-sharing agreement resigned", 5, mode)  # type: ignore[arg-type]
    assert 0 < len(hits) <= 5
    assert [h.rank for h in hits] == list(range(len(hits)))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)


def test_hybrid_keeps_component_scores_and_finds_lexical_matches(engine: SearchEngine) -> None:
    query = "Melanie Krause"
    lexical_top = engine.search(query, 1, "bm25")[0].chunk.id
    hybrid = engine.search(query, 10, "hybrid")
    assert lexical_top in {h.chunk.id for h in hybrid}
    assert any(h.dense is not None for h in hybrid)
    assert any(h.lexical is not None for h in hybrid)


def test_hybrid_with_all_weight_on_one_side_follows_that_side(engine: SearchEngine) -> None:
    query = "agreement Treasury"
    bm25 = [h.chunk.id for h in engine.search(query, 3, "bm25")]
    engine.dense_weight, engine.lexical_weight = 0.0, 1.0
    assert [h.chunk.id for h in engine.search(query, 3, "hybrid")] == bm25


def test_query_without_known_words_still_answers_densely(engine: SearchEngine) -> None:
    assert engine.search("zzzqqq", 3, "bm25") == []
    assert len(engine.search("zzzqqq", 3, "hybrid")) == 3


def test_hybrid_top_results_do_not_depend_on_k(engine: SearchEngine) -> None:
    query = "data-sharing agreement"
    top3 = [h.chunk.id for h in engine.search(query, 3, "hybrid")]
    deep = [h.chunk.id for h in engine.search(query, 300, "hybrid")]
    assert deep[:3] == top3


def test_rrf_fusion_is_still_available(engine: SearchEngine) -> None:
    engine.fusion = "rrf"
    hits = engine.search("Melanie Krause resigned", 4, "hybrid")
    assert len(hits) == 4
    assert hits[0].score <= 2 / (engine.rrf_k + 1)


def test_minmax_scale_is_fixed_by_depth() -> None:
    from core.types import Chunk
    from qa.retrieval import _minmax

    def c(i: int) -> Chunk:
        return Chunk(id=str(i), source="s", start=0, end=1, text="x", text_hash="h")

    ranking = [(c(i), s) for i, s in enumerate([10.0, 6.0, 2.0, 1.0])]
    assert _minmax(ranking, 3) == [1.0, 0.5, 0.0, 0.0]
    assert _minmax(ranking, 10) == pytest.approx([1.0, 5 / 9, 1 / 9, 0.0])
    assert _minmax(ranking[:1], 3) == [1.0]
    assert _minmax([], 3) == []
