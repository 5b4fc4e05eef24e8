"""``qa eval squad2``: per-question records, the figures at any threshold, the plot, a real run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from core.errors import ConfigError
from core.types import Answer, Citation
from evals.squad2 import (
    THRESHOLDS,
    Squad2Record,
    Squad2Result,
    curve,
    plot_curve,
    record,
    run_squad2,
    squad2_scores,
)
from frontends.cli.eval_commands import SQUAD2_FIGURES
from frontends.cli.main import main

RUN = 0.5  # the threshold "in force" for the hand-built records


def cit(quote: str, source: str = "a.txt", score: float = 1.0) -> Citation:
    return Citation(n=1, source=source, quote=quote, start=0, end=len(quote), score=score)


def answered(conf: float | None, *cits: Citation) -> Answer:
    return Answer(question="q", answer="x", refused=False, citations=list(cits), confidence=conf)


def refused(conf: float | None, *related: Citation) -> Answer:
    return Answer(question="q", answer="no", refused=True, related=list(related), confidence=conf)


def ans_q(*gold: str) -> dict[str, object]:
    return {"id": "x", "q": "q", "source": "a.txt", "kind": "answer", "answers": list(gold)}


REFUSE_Q = {"id": "u", "q": "q", "source": "a.txt", "kind": "refuse"}


# record -----------------------------------------------------------------------------------------
def test_record_takes_the_highest_scored_citation_as_top_quote() -> None:
    a = answered(0.9, cit("Melanie  KRAUSE\nresigned.", score=0.4), cit("Other.", "b.txt", 0.8))
    r = record(ans_q("krause resigned"), a, RUN)
    assert r.top_quote == "Other." and not r.top_has_gold  # the higher score wins, not the first
    assert r.any_has_gold and r.right_source  # whitespace and case do not matter
    assert r.answerable and not r.refused and not r.rule_refused and r.confidence == 0.9


def test_a_refusal_shows_only_its_first_related_passage() -> None:
    a = refused(0.3, cit("Nothing here.", "b.txt"), cit("Krause resigned.", "a.txt"))
    r = record(ans_q("Krause"), a, RUN)
    assert r.refused and not r.rule_refused  # below the threshold: the model refused
    assert r.top_quote == "Nothing here."
    assert not (r.top_has_gold or r.any_has_gold or r.right_source)


def test_a_confident_refusal_is_a_rule_refusal_and_none_confidence_is_zero() -> None:
    rule = record(REFUSE_Q, refused(0.8, cit("Zorblax.")), RUN)
    assert rule.rule_refused and not rule.answerable
    empty = record(ans_q("x"), refused(None), RUN)
    assert empty.confidence == 0.0 and not empty.rule_refused and empty.top_quote is None
    # At a run threshold of 0 every refusal was a rule (the heuristic answerer has no model).
    assert record(ans_q("x"), refused(None), 0.0).rule_refused


# squad2_scores and curve -------------------------------------------------------------------------
def records() -> list[Squad2Record]:
    gold = cit("Krause resigned.")
    return [
        # A1: answered, top quote right.
        record(ans_q("Krause"), answered(0.9, gold), RUN),
        # A2: answered, gold only in a lower-scored quote.
        record(ans_q("Krause"), answered(0.6, cit("Other.", score=2.0), gold), RUN),
        # A3: refused by the model; its closest passage would have answered.
        record(ans_q("Krause"), refused(0.3, gold), RUN),
        # A4: refused with nothing to show and no confidence.
        record(ans_q("Krause"), refused(None), RUN),
        # U1: a rule refusal (confident, refused anyway).
        record(REFUSE_Q, refused(0.8, cit("Zorblax.")), RUN),
        # U2: wrongly answered.
        record(REFUSE_Q, answered(0.7, cit("Other.")), RUN),
        # U3: refused by the model.
        record(REFUSE_Q, refused(0.2, cit("Other.")), RUN),
    ]


def test_scores_at_the_run_threshold() -> None:
    s = squad2_scores(records(), RUN)
    # Answered: A1, A2, U2.
    assert s["answerable_top_quote"] == 0.25  # A1 of 4
    assert s["answerable_any_quote"] == 0.5  # A1, A2
    assert s["answerable_right_source"] == 0.5
    assert s["wrongly_refused"] == 0.5  # A3, A4
    assert s["unanswerable_refused"] == 0.6667  # U1, U3 of 3
    assert s["overall"] == 0.4286  # (1 + 2) / 7
    assert s["always_answer"] == 0.2857  # A1, A3 have a right top quote: 2 / 7
    assert s["coverage"] == 0.4286  # 3 / 7
    assert s["precision"] == 0.3333  # 1 right of 3 answered (U2 is wrong)


def test_scores_at_other_thresholds() -> None:
    low = squad2_scores(records(), 0.0)
    # Everything but the rule refusal is answered, A4 with no quote at all.
    assert low["coverage"] == 0.8571 and low["wrongly_refused"] == 0.0
    assert low["answerable_top_quote"] == 0.5  # A1, A3
    assert low["answerable_any_quote"] == 0.75  # A1, A2, A3
    assert low["unanswerable_refused"] == 0.3333  # U1 only
    assert low["precision"] == 0.3333  # 2 of 6
    high = squad2_scores(records(), 0.95)
    assert high["coverage"] == 0.0 and high["precision"] is None
    assert high["unanswerable_refused"] == 1.0 and high["answerable_top_quote"] == 0.0
    assert high["always_answer"] == low["always_answer"] == 0.2857  # no threshold in it


def test_curve_rows_are_the_scores_at_each_threshold() -> None:
    rows = curve(records())
    assert [p.threshold for p in rows] == list(THRESHOLDS)
    assert len(rows) == 20 and rows[0].threshold == 0.0 and rows[-1].threshold == 0.95
    at_65 = rows[13]
    assert at_65.threshold == 0.65
    assert at_65.coverage == 0.2857 and at_65.precision == 0.5  # A1 and U2 answered
    assert rows[10].overall == squad2_scores(records(), 0.5)["overall"]
    coverage = [p.coverage or 0.0 for p in rows]
    assert coverage == sorted(coverage, reverse=True)
    refused_right = [p.unanswerable_refused or 0.0 for p in rows]
    assert refused_right == sorted(refused_right)


def test_no_questions_of_a_kind_gives_none() -> None:
    only = [r for r in records() if r.answerable]
    s = squad2_scores(only, RUN)
    assert s["unanswerable_refused"] is None and s["answerable_top_quote"] == 0.25
    assert squad2_scores([], RUN)["overall"] is None


# plot_curve -------------------------------------------------------------------------------------
def result_of(recs: list[Squad2Record]) -> Squad2Result:
    s = squad2_scores(recs, RUN)
    return Squad2Result(
        dataset="tiny",
        questions=len(recs),
        answerable=4,
        unanswerable=3,
        threshold=RUN,
        answerable_top_quote=s["answerable_top_quote"],
        answerable_any_quote=s["answerable_any_quote"],
        answerable_right_source=s["answerable_right_source"],
        wrongly_refused=s["wrongly_refused"],
        unanswerable_refused=s["unanswerable_refused"],
        overall=s["overall"],
        always_answer=s["always_answer"],
        exact_quote_rate=1.0,
        latency_ms_p50=1.0,
        curve=curve(recs),
    )


def test_plot_curve_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "curve.png"
    plot_curve(result_of(records()), path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000  # two panels with lines, not an empty canvas


def test_plot_curve_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"pip install '\.\[plot\]'"):
        plot_curve(result_of(records()), tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


# a real run: Chroma, the shipped answerability model, fake embeddings ----------------------------
def write_dataset(folder: Path) -> Path:
    (folder / "sources").mkdir(parents=True)
    (folder / "sources" / "Lighthouse.txt").write_text(
        "The Zephyr Lighthouse was restored in 1887 by the harbour guild. "
        "Its lamp burns whale oil and can be seen from twenty miles away.\n",
        encoding="utf-8",
    )
    (folder / "sources" / "Ferry.txt").write_text(
        "The Quillon ferry runs twice a day in summer. "
        "In winter the ferry stops because the strait freezes.\n",
        encoding="utf-8",
    )
    rows = [
        {"id": "1", "q": "When was the Zephyr Lighthouse restored?", "source": "Lighthouse.txt",
         "kind": "answer", "answers": ["1887", "in 1887"]},
        {"id": "2", "q": "How often does the Quillon ferry run in summer?", "source": "Ferry.txt",
         "kind": "answer", "answers": ["twice a day"]},
        {"id": "3", "q": "Why does the Quillon ferry stop in winter?", "source": "Ferry.txt",
         "kind": "answer", "answers": ["the strait freezes"]},
        {"id": "4", "q": "What did Zorblax Quintavian sign?", "source": "Ferry.txt",
         "kind": "refuse"},
    ]  # fmt: skip
    lines = "\n".join(json.dumps(r) for r in rows)
    (folder / "questions.jsonl").write_text(lines + "\n", encoding="utf-8")
    return folder


FIGURES = SQUAD2_FIGURES  # every figure the command prints


def test_run_squad2_on_a_tiny_dataset(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny")
    fake = DeterministicFakeEmbedding(size=32)
    result = run_squad2(data, tmp_path / "store", embeddings=fake)
    assert (result.questions, result.answerable, result.unanswerable) == (4, 3, 1)
    assert 0.0 <= result.threshold <= 1.0
    for key in FIGURES:
        value = getattr(result, key)
        assert value is not None and 0.0 <= value <= 1.0, key
    # A name no article mentions is refused whatever the model says.
    assert result.unanswerable_refused == 1.0
    assert result.wrongly_refused is not None and result.answerable_top_quote is not None
    assert result.answerable_top_quote <= 1.0 - result.wrongly_refused
    assert result.exact_quote_rate == 1.0  # every quote shown is at its exact offsets
    assert len(result.curve) == 20
    for point in result.curve:
        for value in point.model_dump().values():
            assert value is None or 0.0 <= value <= 1.0
    assert result.latency_ms_p50 is not None and result.latency_ms_p50 > 0

    limited = run_squad2(data, tmp_path / "store", limit=2, embeddings=fake)
    assert (limited.questions, limited.answerable, limited.unanswerable) == (2, 2, 0)
    assert limited.unanswerable_refused is None


def test_eval_squad2_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = DeterministicFakeEmbedding(size=32)
    monkeypatch.setattr("index.embeddings.LocalEmbeddings", lambda **_kw: model)
    data = write_dataset(tmp_path / "tiny")
    argv = ["eval", "squad2", "--dataset", str(data), "--store", str(tmp_path / "store")]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] == 4 and len(out["curve"]) == 20
    assert set(FIGURES) <= out.keys()

    assert main([*argv, "--plot", str(tmp_path / "c.png")]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["questions", "4", "(3", "answerable,", "1", "unanswerable)"]
    assert any(line.startswith("unanswerable_refused     100.0%") for line in text)
    header = text.index(
        "threshold  coverage  precision  overall  answerable_top_quote  unanswerable_refused"
    )
    table = text[header + 1 :]
    assert len(table) == 20 and sum(line.endswith("<- run") for line in table) == 1
    assert {len(line.removesuffix("  <- run")) for line in table} == {len(text[header])}
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_eval_squad2_missing_dataset_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "squad2", "--dataset", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1
    (tmp_path / "empty" / "sources").mkdir(parents=True)
    assert main(["eval", "squad2", "--dataset", str(tmp_path / "empty")]) == 1
    assert "questions.jsonl does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="sources does not exist"):
        run_squad2(tmp_path / "none")
