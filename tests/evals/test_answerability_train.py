"""``qa train answerability``: data layouts, labels, folds by article, a model file written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.errors import ConfigError
from evals.answerability import (
    Decisions,
    Features,
    best_threshold,
    collect,
    decide,
    fold_of,
    load_question_set,
    scores,
)
from frontends.cli.main import main
from qa.answering.answerability import FEATURES, load_model

ARTICLES = {
    "Otters.txt": "Sea otters eat sea urchins and crabs. They use stones as tools to open shells. "
    "A sea otter has the densest fur of any animal, about a million hairs per square inch.",
    "Bridges.txt": "The Golden Gate Bridge opened in 1937 in San Francisco. Its main span is "
    "1,280 metres long. The bridge is painted in a colour called International Orange.",
}
QUESTIONS = [
    {"q": "What do sea otters eat?", "source": "Otters.txt", "answers": ["sea urchins"]},
    {"q": "What do sea otters use as tools?", "source": "Otters.txt", "answers": ["stones"]},
    {"q": "What do sea otters fear?", "source": "Otters.txt", "kind": "refuse"},
    {"q": "When did the Golden Gate Bridge open?", "source": "Bridges.txt", "answers": ["1937"]},
    {"q": "What colour is the bridge painted?", "source": "Bridges.txt", "answers": ["Orange"]},
    {"q": "Who painted the bridge first?", "source": "Bridges.txt", "kind": "refuse"},
]


def _dataset(root: Path) -> Path:
    folder = root / "tiny"
    (folder / "sources").mkdir(parents=True)
    for name, text in ARTICLES.items():
        (folder / "sources" / name).write_text(text, encoding="utf-8")
    rows = [{"id": str(i), "kind": "answer", **q} for i, q in enumerate(QUESTIONS)]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def test_layouts_and_groups(tmp_path: Path) -> None:
    qset = load_question_set(_dataset(tmp_path), tmp_path / "work")
    assert [q.group for q in qset.questions].count("tiny/Otters.txt") == 3
    assert qset.questions[2].answers == []  # a refusal has no answer
    squad = tmp_path / "squad"
    squad.mkdir()
    (squad / "passages.jsonl").write_text(json.dumps({"_id": "Otter#0", "text": "Otters eat."}))
    (squad / "qa.jsonl").write_text(
        json.dumps({"question": "Eat?", "answer": "eat", "passage_id": "Otter#0"})
    )
    sset = load_question_set(squad, tmp_path / "w2")
    assert sset.questions[0].group == "squad/Otter"
    assert (tmp_path / "w2" / "sources" / sset.questions[0].source).read_text() == "Otters eat."
    with pytest.raises(ConfigError, match="sources folder"):
        load_question_set(squad / "qa.jsonl", tmp_path / "w3")
    with pytest.raises(ConfigError, match=r"expected questions\.jsonl"):
        load_question_set(tmp_path, tmp_path / "w4")


def test_collect_labels_candidates_from_the_right_article(tmp_path: Path) -> None:
    qset = load_question_set(_dataset(tmp_path), tmp_path / "work")
    f = collect(qset, tmp_path / "store", embeddings=DeterministicFakeEmbedding(size=32))
    assert f.rows.shape[1] == len(FEATURES)
    # A refusal's candidates are all 0; "sea urchins" is held by exactly one sentence.
    assert not f.labels[f.question == 2].any()
    assert f.labels[f.question == 0].sum() == 1
    again = collect(qset, tmp_path / "store", embeddings=DeterministicFakeEmbedding(size=32))
    assert np.array_equal(again.rows, f.rows)  # from the cache, the same rows


def test_folds_never_split_an_article() -> None:
    groups = ["a/x", "a/x", "a/y", "a/z", "a/y"]
    f = Features(
        "a",
        np.zeros((5, len(FEATURES))),
        np.zeros(5, dtype=np.int8),
        np.arange(5),
        groups,
        np.ones(5, dtype=bool),
        np.zeros(5, dtype=bool),
        np.arange(5),
        np.full(5, -1),
    )
    (folds,) = fold_of([f], 2)
    by_group: dict[str, set[int]] = {}
    for g, k in zip(groups, folds, strict=True):
        by_group.setdefault(g, set()).add(int(k))
    assert all(len(ks) == 1 for ks in by_group.values())
    assert set(folds) == {0, 1}


def test_decisions_use_the_lead_row_and_for_who_the_better_of_two() -> None:
    f = Features(
        "a",
        np.zeros((4, len(FEATURES))),
        np.array([1, 0, 0, 1], dtype=np.int8),
        np.array([0, 0, 1, 1]),
        ["a/x", "a/y", "a/z"],
        np.ones(3, dtype=bool),
        np.array([False, False, True]),
        np.array([0, 3, -1]),
        np.array([-1, 2, -1]),
    )
    d = decide(f, np.array([0.3, 0.9, 0.8, 0.1]))
    assert d.confidence.tolist() == [0.3, 0.8, -1.0]  # question 1: max(0.1, 0.8)
    assert d.top_right.tolist() == [True, True, False]  # the lead row's label is what is shown


def test_scores_and_the_threshold_that_gets_most_right() -> None:
    d = Decisions(
        confidence=np.array([0.9, 0.6, 0.7, 0.4, -1.0]),
        top_right=np.array([True, False, True, False, False]),
        answerable=np.array([True, True, True, False, False]),
    )
    at = scores(d, 0.5)
    assert at["answerable_top_quote"] == pytest.approx(2 / 3, abs=1e-4)
    assert at["wrongly_refused"] == 0.0
    assert at["unanswerable_refused"] == 1.0  # 0.4 is below, and the rule refusal (-1) stands
    assert at["overall"] == pytest.approx(4 / 5, abs=1e-4)
    assert at["always_answer"] == pytest.approx(2 / 5, abs=1e-4)
    # Refusing the unanswerable 0.4 but keeping the right 0.7: 4 of 5 right (the wrong 0.6 is
    # wrong answered or refused).
    assert 0.4 < best_threshold([d]) <= 0.7


def test_train_command_writes_a_model_with_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import evals.answerability as module

    real = module.collect
    monkeypatch.setattr(
        module,
        "collect",
        lambda *a, **kw: real(*a, **{**kw, "embeddings": DeterministicFakeEmbedding(size=32)}),
    )
    out = tmp_path / "model.json"
    argv = ["train", "answerability", "--dataset", str(_dataset(tmp_path)), "--out", str(out)]
    argv += ["--store", str(tmp_path / "store"), "--folds", "2", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["cross_validated"]) == {"tiny"}
    assert result["cross_validated"]["tiny"]["questions"] == 6
    model = load_model(out)
    assert model.threshold == result["threshold"]
    assert model.meta["command"] == "qa " + " ".join(argv)
    assert model.meta["datasets"][0]["questions"] == 6
    assert main(["train", "answerability", "--out", str(out)]) == 1  # no data set given
