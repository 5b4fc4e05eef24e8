"""The answerability features and model: rows that mean what they say, a model file that
round-trips, and an answerer that ranks and refuses by it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from core.types import Chunk, ScoredChunk
from index.lexical import MemoryLexical
from index.text import tokenize
from qa.answering.answerability import (
    FEATURES,
    MODEL_FILE,
    AnswerabilityModel,
    candidate_features,
    load_model,
)
from qa.answering.evidence import Candidate

TEXT = (
    "All of the forces in the universe are based on four fundamental interactions. "
    "The strong and weak forces act only at very short distances."
)


def _lexical() -> MemoryLexical:
    return MemoryLexical.build(
        [("c1", TEXT), ("c2", "Warsaw hosts a festival on the Vistula every June.")], "g1"
    )


def _cand(text: str, dense: float = 0.7) -> Candidate:
    chunk = Chunk(id="c1", source="force.txt", start=0, end=len(TEXT), text=TEXT, text_hash="h")
    start = TEXT.index(text)
    return Candidate(
        ScoredChunk(chunk=chunk, score=1.0, rank=0),
        start,
        start + len(text),
        text,
        dense=dense,
        coverage=0.5,
        terms=frozenset(tokenize(text)),
    )


def _row(question: str, text: str) -> dict[str, float]:
    rows = candidate_features(question, question, [_cand(text)], _lexical())
    return dict(zip(FEATURES, rows[0], strict=True))


SENTENCE = "All of the forces in the universe are based on four fundamental interactions."


def test_a_number_the_passage_does_not_state_is_flagged() -> None:
    asked = "All the forces in the universe are based on how many fundamental interactions?"
    swapped = "All the forces in what are based on three fundamental interactions?"
    assert _row(asked, SENTENCE)["number_missing"] == 0.0
    assert _row(swapped, SENTENCE)["number_missing"] == 1.0


def test_a_changed_small_word_is_flagged() -> None:
    # Stop-word removal makes these two questions the same key terms; the modifier differs.
    assert _row("All of the forces are based on what?", SENTENCE)["modifier_missing"] == 0.0
    assert _row("Most of the forces are based on what?", SENTENCE)["modifier_missing"] == 1.0


def test_the_rarest_missing_term_and_coverage() -> None:
    covered = _row("What are the forces of the universe based on?", SENTENCE)
    lacking = _row("What are the forces of the Vistula based on?", SENTENCE)
    assert covered["missing_rarest"] == 0.0 and covered["coverage"] == 0.5
    assert lacking["missing_rarest"] > 0.5  # "vistula" is absent from the sentence
    assert lacking["context_coverage"] < covered["context_coverage"]


def test_answer_type_and_question_word_features() -> None:
    row = _row("How many fundamental interactions are there?", SENTENCE)
    assert row["wants_number"] == 1.0 and row["type_missing"] == 0.0
    row = _row("When were the fundamental interactions found?", SENTENCE)
    assert row["wants_date"] == 1.0 and row["type_missing"] == 1.0 and row["wh_when"] == 1.0


def test_position_and_gaps_follow_the_order() -> None:
    lexical = _lexical()
    cands = [_cand(SENTENCE, 0.8), _cand("The strong and weak forces act only at very", 0.5)]
    rows = candidate_features("What are forces based on?", "forces", cands, lexical)
    col = {name: i for i, name in enumerate(FEATURES)}
    assert rows[0, col["position"]] == 1.0 and rows[1, col["position"]] == 0.5
    assert rows[0, col["dense_gap"]] == 0.0
    assert rows[1, col["dense_gap"]] == pytest.approx(0.3)


def _model(weights: np.ndarray, **kw: object) -> AnswerabilityModel:
    n = len(FEATURES)
    return AnswerabilityModel(
        features=list(FEATURES),
        mean=np.zeros(n),
        scale=np.ones(n),
        weights=weights,
        bias=-1.0,
        **kw,  # type: ignore[arg-type]
    )


def test_model_predicts_a_logistic_of_the_standardised_row(tmp_path: Path) -> None:
    w = np.zeros(len(FEATURES))
    w[FEATURES.index("dense")] = 4.0
    model = _model(w, threshold=0.4)
    rows = np.zeros((2, len(FEATURES)))
    rows[1, FEATURES.index("dense")] = 1.0
    p = model.predict(rows)
    assert p[0] == pytest.approx(1 / (1 + np.exp(1.0)))
    assert p[1] == pytest.approx(1 / (1 + np.exp(-3.0)))
    path = tmp_path / "m.json"
    model.save(path)
    again = load_model(path)
    assert again.threshold == 0.4
    assert np.allclose(again.predict(rows), p)


def test_a_hidden_layer_round_trips(tmp_path: Path) -> None:
    n = len(FEATURES)
    rng = np.random.default_rng(0)
    model = _model(rng.normal(size=3), hidden=(rng.normal(size=(n, 3)), rng.normal(size=3)))
    rows = rng.normal(size=(5, n))
    model.save(tmp_path / "h.json")
    assert np.allclose(load_model(tmp_path / "h.json").predict(rows), model.predict(rows))


def test_a_model_for_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(MODEL_FILE.read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="qa train answerability"):
        load_model(tmp_path / "old.json")


def test_the_shipped_model_records_how_it_was_made() -> None:
    model = load_model()
    assert 0.0 < model.threshold < 1.0
    assert model.meta["command"].startswith("qa train answerability")
    names = {d["name"] for d in model.meta["datasets"]}
    assert "squad2_dev" in names
    assert len(model.weights) == (model.hidden[1].size if model.hidden else len(FEATURES))
