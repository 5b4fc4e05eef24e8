"""Scoring conversations: each turn's rule, the history each turn is asked with, the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.types import Answer, Citation, Turn
from evals.conversations import evaluate_conversations, parse_corpora, run_conversations, score_turn


def _answer(*quotes: str, refused: bool = False) -> Answer:
    cits = [
        Citation(n=n, source="a.txt", quote=q, start=10 * n, end=10 * n + len(q), score=1.0)
        for n, q in enumerate(quotes, 1)
    ]
    return Answer(question="q", answer=" ".join(quotes), refused=refused, citations=cits)


def test_score_turn_applies_expect_forbid_no_repeat_and_refuse() -> None:
    turn = {"q": "q", "expect_any": ["10,000  new jobs"], "forbid_any": ["insulin"]}
    assert score_turn(turn, _answer("It brings 10,000 new\njobs."), set()) == (True, "")
    assert not score_turn(turn, _answer("Jobs, jobs."), set())[0]
    right, why = score_turn(turn, _answer("10,000 new jobs.", "Insulin costs $10."), set())
    assert not right and "earlier topic" in why
    assert not score_turn(turn, _answer(refused=True), set())[0]
    repeat = {**turn, "no_repeat": True}
    assert not score_turn(repeat, _answer("10,000 new jobs."), {"10,000 new jobs."})[0]
    refuse = {"q": "q", "kind": "refuse"}
    assert score_turn(refuse, _answer(refused=True), set())[0]
    assert not score_turn(refuse, _answer("anything"), set())[0]


def test_each_turn_is_asked_with_the_earlier_questions_and_their_citations() -> None:
    conversations = [
        {
            "id": "c1",
            "corpus": "x",
            "turns": [
                {"q": "first?", "expect_any": ["one"]},
                {"q": "second?", "expect_any": ["two"], "no_repeat": True},
                {"q": "third?", "kind": "refuse"},
            ],
        },
        {"id": "c2", "corpus": "y", "turns": [{"q": "alone?", "expect_any": ["three"]}]},
    ]
    calls: list[tuple[str, str, list[Turn]]] = []
    replies = iter([_answer("one"), _answer("one"), _answer("x"), _answer("three")])

    def ask(corpus: str, question: str, history: list[Turn]) -> Answer:
        calls.append((corpus, question, history))
        return next(replies)

    result = evaluate_conversations(conversations, ask)
    assert [c[1] for c in calls] == ["first?", "second?", "third?", "alone?"]
    assert calls[1][2][0].question == "first?" and calls[1][2][0].citations[0].quote == "one"
    assert [t.question for t in calls[2][2]] == ["first?", "second?"]
    assert calls[3][0] == "y" and calls[3][2] == []  # a new conversation starts empty
    assert [r.right for r in result.results] == [True, False, False, True]
    assert result.turns == 4 and result.follow_ups == 2
    assert result.turn_accuracy == 0.5 and result.follow_up_accuracy == 0.0
    assert result.first_turn_accuracy == 1.0 and result.refusal_accuracy == 0.0


def test_corpora_are_name_dir_pairs_of_existing_folders(tmp_path: Path) -> None:
    assert parse_corpora([f"docs={tmp_path}"]) == {"docs": tmp_path}
    for bad in ("docs", f"={tmp_path}", "docs=/no/such/folder"):
        with pytest.raises(ConfigError):
            parse_corpora([bad])


def test_a_corpus_the_file_names_must_be_given(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "1", "corpus": "sotu", "turns": []}) + "\n")
    with pytest.raises(ConfigError, match="--corpus NAME=DIR"):
        run_conversations(path, {})


def test_run_conversations_indexes_and_scores_through_the_service(
    sources_dir: Path, fake_embeddings, make_service
) -> None:
    service = make_service(sources_dir, fake_embeddings)
    path = sources_dir.parent / "c.jsonl"
    turns = [
        {"q": "Who resigned over the data-sharing agreement?", "expect_any": ["Melanie Krause"]},
        {"q": "Who painted the Mona Lisa?", "kind": "refuse"},
    ]
    path.write_text(json.dumps({"id": "k", "corpus": "seeds", "turns": turns}) + "\n")
    result = run_conversations(path, {}, services={"seeds": service})
    assert result.turns == 2 and service.store.count() > 0
    assert result.results[1].right  # a name no source mentions is refused
    assert result.exact_quote_rate == 1.0
