"""The extractive answerer on the sample sources with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_EVAL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory, real_embeddings):
    import shutil

    from core.settings import Settings
    from qa.service import QAService
    from tests.conftest import SEEDS

    root = tmp_path_factory.mktemp("answers")
    shutil.copytree(SEEDS, root / "sources")
    svc = QAService(
        Settings(sources=root / "sources", store=root / "store"), embeddings=real_embeddings
    )
    svc.index()
    return svc


def _dev_questions() -> list[dict]:
    path = SHARED_EVAL / "seeds_dev.jsonl"
    if not path.exists():
        pytest.skip("shared/eval is not beside the checkout")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_quote_is_exact_and_refusals_cite_nothing(service) -> None:
    for q in _dev_questions():
        answer = service.ask(q["q"])
        if answer.refused:
            assert answer.citations == []
        for cit in answer.citations + answer.related:
            text = Path(service.sources_dir, cit.source).read_text(encoding="utf-8")
            assert text[cit.start : cit.end] == cit.quote
            assert cit.verified


def test_unanswerable_questions_are_refused(service) -> None:
    refuse = [q for q in _dev_questions() if q["kind"] == "refuse"]
    assert refuse
    assert all(service.ask(q["q"]).refused for q in refuse)


def test_a_changed_file_invalidates_quotes_instead_of_misquoting(service) -> None:
    path = Path(service.sources_dir, "000_9bb67ea3e936fa88.txt")
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text("Inserted line.\n" + original, encoding="utf-8")
        answer = service.ask("Who resigned over the data-sharing agreement?")
        assert all(c.source != path.name for c in answer.citations)
        assert any("changed since it was indexed" in w for w in answer.warnings)
    finally:
        path.write_text(original, encoding="utf-8")


def test_a_follow_up_question_uses_the_conversation(service) -> None:
    first = "Who resigned over the data-sharing agreement?"
    alone = service.ask("What was her position?")
    follow = service.ask("What was her position?", [first])
    assert not follow.refused
    assert any("acting commissioner" in c.quote for c in follow.citations)
    assert alone.refused or not any("acting commissioner" in c.quote for c in alone.citations)


def test_a_question_that_stands_alone_is_answered_as_if_asked_first(service) -> None:
    from core.types import Turn

    first = service.ask("Who resigned over the data-sharing agreement?")
    history = [Turn.of(first)]
    question = "Which judge ruled on the data-sharing agreement?"
    alone, after = service.ask(question), service.ask(question, history)
    assert after.interpreted_as is None
    assert [(c.source, c.start) for c in after.citations] == [
        (c.source, c.start) for c in alone.citations
    ]


def test_what_else_gives_new_quotes_or_says_there_are_none(service) -> None:
    from core.types import Turn

    history: list[Turn] = []
    seen: set[tuple[str, int, int]] = set()
    question = "What did the groups challenging the agreement argue?"
    for ask in (question, "What else did they argue?", "What else?", "Anything else?"):
        answer = service.ask(ask, history)
        spans = {(c.source, c.start, c.end) for c in answer.citations}
        assert not any(s == s2 and a < e2 and a2 < e for s, a, e in spans for s2, a2, e2 in seen), (
            f"{ask!r} repeated a quote"
        )
        if ask != question:
            assert answer.interpreted_as == f"More on: {question}"
            if answer.refused:
                assert any("nothing more" in w for w in answer.warnings)
        seen |= spans
        history.append(Turn.of(answer))
    assert len(seen) > 2  # the first "what else" found something new


def test_a_broad_question_gets_central_sentences_of_one_source_in_reading_order(service) -> None:
    answer = service.ask("What is this article about?")
    assert not answer.refused and answer.interpreted_as
    assert answer.interpreted_as.startswith("Summary of ")
    cits = answer.citations
    assert len(cits) >= 3 and len({c.source for c in cits}) == 1
    assert [c.start for c in cits] == sorted(c.start for c in cits)
    assert all(c.verified for c in cits)
    text = service.show(cits[0].source).text
    assert all(text[c.start : c.end] == c.quote for c in cits)


def test_sources_that_disagree_are_shown_side_by_side(service) -> None:
    answer = service.ask("What did the judge do with the groups' request?")
    assert not answer.refused
    assert answer.disagreement, answer.answer
    accounts = answer.disagreement[0].accounts
    sources = {c.source for c in answer.citations if c.n in accounts}
    assert sources == {"000_9bb67ea3e936fa88.txt", "004_6dfc703d79982146.txt"}
    assert answer.answer.startswith("The sources give different accounts")


def test_answers_carry_the_models_confidence_and_the_threshold_decides(service) -> None:
    from core.settings import Settings
    from qa.service import QAService

    question = "Who resigned from the tax agency?"
    answer = service.ask(question)
    threshold = service.answerer.min_confidence
    assert not answer.refused
    assert answer.confidence is not None and threshold <= answer.confidence <= 1.0
    # The same index, a stricter threshold: the same evidence is now refused, with a reason,
    # and the refusal still says how close the best passage came.
    strict = QAService(
        Settings(
            sources=service.sources_dir,
            store=service.store_dir,
            min_confidence=min(1.0, answer.confidence + 0.01),
        ),
        embeddings=service.embeddings,
    )
    refused = strict.ask(question)
    assert refused.refused and refused.warnings
    assert refused.confidence == answer.confidence
    off_topic = service.ask("What is the boiling point of liquid nitrogen on Mars?")
    assert off_topic.refused
