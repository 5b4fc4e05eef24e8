"""``qa eval answers`` and ``qa eval squad``: scoring on fakes, the commands on a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.errors import ConfigError, SourceError
from core.types import Answer, Citation, SourceText
from evals.answers import evaluate_answers, read_jsonl, run_squad, score_question
from frontends.cli.main import main

TEXT = "The court denied the request. Melanie Krause resigned in protest."


def cit(n: int, quote: str, source: str = "000_a.txt", start: int | None = None) -> Citation:
    begin = TEXT.find(quote) if start is None else start
    return Citation(n=n, source=source, quote=quote, start=begin, end=begin + len(quote), score=1.0)


def answered(question: str, *cits: Citation) -> Answer:
    text = " ".join(f"{c.quote} [{c.n}]" for c in cits)
    return Answer(question=question, answer=text, refused=False, citations=list(cits))


def refused(question: str) -> Answer:
    return Answer(question=question, answer="The sources don't answer this.", refused=True)


# score_question -------------------------------------------------------------------------------
def test_a_refuse_question_is_right_only_when_refused() -> None:
    q = {"kind": "refuse", "q": "Who painted it?"}
    assert score_question(q, refused("x")) == (True, "")
    ok, why = score_question(q, answered("x", cit(1, "Melanie Krause resigned in protest.")))
    assert not ok and "should refuse" in why


def test_an_answerable_question_needs_the_expected_text_and_source() -> None:
    q = {"kind": "fact", "q": "Who resigned?", "expect_any": ["melanie KRAUSE"]}
    good = answered("x", cit(1, "Melanie Krause resigned in protest."))
    assert score_question(q, good) == (True, "")  # case-insensitive
    ok, why = score_question(q, answered("x", cit(1, "The court denied the request.")))
    assert not ok and "no quote contains" in why
    ok, why = score_question(q, refused("x"))
    assert not ok and "refused an answerable question" in why
    sourced = {**q, "sources_any": ["004_"]}
    ok, why = score_question(sourced, good)
    assert not ok and "no cited source" in why
    both = {**q, "expect_all_sources": ["000_", "004_"]}
    ok, why = score_question(both, good)
    assert not ok and "did not cite ['004_']" in why
    two = answered(
        "x", cit(1, "Melanie Krause resigned in protest."), cit(2, "Krause", source="004_b.txt")
    )
    assert score_question(both, two) == (True, "")


# evaluate_answers on a fake service --------------------------------------------------------------
class FakeReader:
    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts

    def read(self, source: str) -> SourceText:
        if source not in self.texts:
            raise SourceError(source, "file no longer exists")
        return SourceText(source, self.texts[source], "text")


class FakeService:
    def __init__(self, answers: dict[str, Answer], texts: dict[str, str]) -> None:
        self.answers = answers
        self.reader = FakeReader(texts)
        self.asked: list[tuple[str, Any]] = []

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        self.asked.append((question, history))
        return self.answers[question]


def test_evaluate_answers_counts_accuracy_quotes_and_citations() -> None:
    questions = [
        {"id": "a", "kind": "fact", "q": "Who resigned?", "expect_any": ["Krause"],
         "sources_any": ["000_"]},
        {"id": "b", "kind": "fact", "q": "What was denied?", "expect_any": ["request"],
         "sources_any": ["000_"], "history": ["Who resigned?"]},
        {"id": "c", "kind": "refuse", "q": "Who painted it?"},
        {"id": "d", "kind": "refuse", "q": "How old is she?"},
    ]  # fmt: skip
    stale = cit(2, "the request", start=0)  # wrong offsets: not exact in the text
    service = FakeService(
        {
            "Who resigned?": answered("Who resigned?", cit(1, "Melanie Krause resigned")),
            "What was denied?": answered(
                "What was denied?", cit(1, "The court denied"), stale,
                cit(3, "Krause", source="004_b.txt"),
            ),
            "Who painted it?": refused("Who painted it?"),
            "How old is she?": answered("How old is she?", cit(1, "Melanie Krause")),
        },
        {"000_a.txt": TEXT},  # 004_b.txt is gone: its quote cannot be exact
    )  # fmt: skip
    result = evaluate_answers(service, questions)  # type: ignore[arg-type]
    assert service.asked[1] == ("What was denied?", ["Who resigned?"])
    assert result.questions == 4 and result.answerable == 2 and result.refusals == 2
    assert result.answerable_accuracy == 1.0
    assert result.refusal_accuracy == 0.5
    # 5 quotes: 3 exact, one at wrong offsets, one of a missing file.
    assert result.exact_quote_rate == 0.6
    # Citations of answered questions with sources_any: 3 of 4 in a 000_ source.
    assert result.citation_accuracy == 0.75
    assert [(m.id, m.why) for m in result.misses] == [("d", "answered a question it should refuse")]


def test_read_jsonl_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "a"}\n\n{"q": \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"q.jsonl:3: not valid JSON"):
        read_jsonl(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_jsonl(tmp_path / "missing.jsonl")


# the commands, with a real Chroma and a fake model ---------------------------------------------
@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> DeterministicFakeEmbedding:
    model = DeterministicFakeEmbedding(size=32)
    monkeypatch.setattr("index.embeddings.LocalEmbeddings", lambda **_kw: model)
    return model


def test_eval_answers_command_json(
    sources_dir: Path, tmp_path: Path, fake_model: object, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "r1", "kind": "refuse", "q": "What did Zorblax Quintavian sign?"},
        {"id": "f1", "kind": "fact", "q": "Who resigned over the data-sharing agreement?",
         "expect_any": ["Melanie Krause"]},
    ]  # fmt: skip
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    argv = ["eval", "answers", "--questions", str(questions), "--sources", str(sources_dir)]
    assert main([*argv, "--store", str(tmp_path / "store"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] == 2 and out["answerable"] == 1 and out["refusals"] == 1
    assert out["refusal_accuracy"] == 1.0  # a name no source mentions is refused
    assert out["exact_quote_rate"] == 1.0  # every quote shown is exact
    assert {m["id"] for m in out["misses"]} <= {"f1"}

    assert main([*argv, "--store", str(tmp_path / "store")]) == 0
    text = capsys.readouterr().out
    assert "refusal_accuracy       100.0%" in text and "exact_quote_rate       100.0%" in text


def test_eval_answers_missing_question_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "answers", "--questions", str(tmp_path / "none.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1


def test_run_squad_scores_quotes_on_passages(tmp_path: Path) -> None:
    data = tmp_path / "squad"
    data.mkdir()
    passages = [
        {"_id": "Lighthouse#0", "text": "The Zephyr Lighthouse was restored in 1887 by the guild."},
        {"_id": "Ferry#0", "text": "The Quillon ferry runs twice a day in summer."},
    ]
    qas = [
        {"question": "When was the Zephyr Lighthouse restored?", "answer": "1887",
         "passage_id": "Lighthouse#0"},
        {"question": "How often does the Quillon ferry run?", "answer": "twice a day",
         "passage_id": "Ferry#0"},
        {"question": "Who built the Quillon bridge?", "answer": "nobody", "passage_id": "Ferry#0"},
    ]  # fmt: skip
    (data / "passages.jsonl").write_text("\n".join(json.dumps(p) for p in passages))
    (data / "qa.jsonl").write_text("\n".join(json.dumps(q) for q in qas))
    result = run_squad(
        data, tmp_path / "store", limit=2, embeddings=DeterministicFakeEmbedding(size=32)
    )
    assert result.questions == 2 and result.exact_quote_rate == 1.0
    # Each passage is one sentence, so a quote that answers contains the gold text.
    assert result.top_quote_contains_answer is not None
    assert result.right_passage_cited is not None
    assert result.top_quote_contains_answer <= 1.0 - (result.refused or 0.0)
    assert len(list((tmp_path / "store" / "sources").iterdir())) == 2
