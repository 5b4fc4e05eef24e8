"""Score answers and refusals on SQuAD 2.0-style data: answerable and unanswerable questions.

Layout: ``DIR/questions.jsonl`` (``{"id", "q", "source", "kind": "answer", "answers": [...]}``
or ``kind: "refuse"``) and ``DIR/sources/*.txt``. Each answer's ``confidence`` is kept, so one
run also tells what every other refusal threshold would have scored (the curve).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from core.errors import ConfigError
from core.progress import ProgressCallback
from core.settings import Settings
from core.types import Answer, Citation
from evals.answers import flat, ratio, read_jsonl, slug
from qa.service import QAService
from qa.verify import count_exact

# 0.00, 0.05, ... 0.95: the thresholds the curve is drawn at.
THRESHOLDS = tuple(round(i * 0.05, 2) for i in range(20))


class Squad2Record(BaseModel):
    """One question's outcome, all the curve needs: no model is run again to score it."""

    id: str | int | None = None
    answerable: bool
    confidence: float = Field(0.0, description="The answer's confidence; None counts as 0.")
    refused: bool
    rule_refused: bool = Field(
        False,
        description="Refused although confident enough (a rule, e.g. an unknown name):"
        " refused at every threshold.",
    )
    top_quote: str | None = None
    top_has_gold: bool = False
    any_has_gold: bool = Field(
        False, description="Any quote shown contains a gold answer (the top one when refused)."
    )
    right_source: bool = Field(
        False, description="A quote shown is from the question's article (the top one if refused)."
    )


class CurvePoint(BaseModel):
    """The figures had the refusal threshold been ``threshold``."""

    threshold: float
    coverage: float | None
    precision: float | None
    overall: float | None
    answerable_top_quote: float | None
    unanswerable_refused: float | None


class Squad2Result(BaseModel):
    """The contract of ``qa eval squad2 --json``."""

    dataset: str
    questions: int
    answerable: int
    unanswerable: int
    threshold: float
    answerable_top_quote: float | None
    answerable_any_quote: float | None
    answerable_right_source: float | None
    wrongly_refused: float | None
    unanswerable_refused: float | None
    overall: float | None
    always_answer: float | None
    coverage: float | None = Field(None, description="Share of questions answered.")
    precision: float | None = Field(None, description="Share of answers whose top quote is right.")
    exact_quote_rate: float | None
    latency_ms_p50: float | None
    curve: list[CurvePoint] = Field(default_factory=list)


def record(q: dict[str, Any], answer: Answer, threshold: float) -> Squad2Record:
    """What one answer to question ``q`` scores, given the run's refusal ``threshold``."""
    confidence = answer.confidence if answer.confidence is not None else 0.0
    if answer.refused:
        # What a lower threshold would have shown first: the closest passage.
        shown: list[Citation] = answer.related[:1]
        top = shown[0] if shown else None
    else:
        shown = answer.citations
        top = max(shown, key=lambda c: c.score) if shown else None
    gold = [flat(a) for a in q.get("answers", []) if a.strip()]

    def has_gold(c: Citation) -> bool:
        return any(g in flat(c.quote) for g in gold)

    return Squad2Record(
        id=q.get("id"),
        answerable=q.get("kind") != "refuse",
        confidence=confidence,
        refused=answer.refused,
        # The model would have answered, so something else refused: no threshold changes that.
        rule_refused=answer.refused and confidence >= threshold,
        top_quote=top.quote if top else None,
        top_has_gold=top is not None and has_gold(top),
        any_has_gold=any(has_gold(c) for c in shown),
        right_source=any(c.source == q.get("source") for c in shown),
    )


def squad2_scores(records: Sequence[Squad2Record], threshold: float) -> dict[str, float | None]:
    """The figures had questions been answered iff not rule-refused and confidence >= threshold.

    ``answerable_any_quote`` and ``answerable_right_source`` are exact at the run's threshold and
    above; below it, a question the run refused counts its top quote only (the rest is unknown).
    Shares are of all questions of the kind in question; ``None`` when there are none.
    """
    n = len(records)
    ans = [r for r in records if r.answerable]
    una = [r for r in records if not r.answerable]

    def answered(r: Squad2Record) -> bool:
        return not r.rule_refused and r.confidence >= threshold

    right = sum(answered(r) and r.top_has_gold for r in ans)
    done = sum(answered(r) for r in records)
    una_refused = sum(not answered(r) for r in una)
    return {
        "answerable_top_quote": ratio(right, len(ans)),
        "answerable_any_quote": ratio(sum(answered(r) and r.any_has_gold for r in ans), len(ans)),
        "answerable_right_source": ratio(
            sum(answered(r) and r.right_source for r in ans), len(ans)
        ),
        "wrongly_refused": ratio(sum(not answered(r) for r in ans), len(ans)),
        "unanswerable_refused": ratio(una_refused, len(una)),
        "overall": ratio(right + una_refused, n),
        # A system that never refuses: every answerable question gets its top quote.
        "always_answer": ratio(sum(r.top_has_gold for r in ans), n),
        "coverage": ratio(done, n),
        # An answered unanswerable question is a wrong answer.
        "precision": ratio(right, done),
    }


def curve(
    records: Sequence[Squad2Record], thresholds: Iterable[float] = THRESHOLDS
) -> list[CurvePoint]:
    """Coverage, precision and the main figures at each threshold, from the same records."""
    points = []
    for t in thresholds:
        s = squad2_scores(records, t)
        points.append(
            CurvePoint(
                threshold=t,
                coverage=s["coverage"],
                precision=s["precision"],
                overall=s["overall"],
                answerable_top_quote=s["answerable_top_quote"],
                unanswerable_refused=s["unanswerable_refused"],
            )
        )
    return points


def run_squad2(
    dataset: Path,
    store: Path | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    embeddings: Embeddings | None = None,
) -> Squad2Result:
    """Index ``DIR/sources``, ask every question of ``DIR/questions.jsonl``, score the answers.

    Args:
        dataset: Folder with ``questions.jsonl`` and ``sources/``.
        store: The index folder (default under ``.qa/eval/``).
        limit: Only the first N questions.
        progress: Indexing progress.
        embeddings: The model (the packaged one by default; tests pass a fake).

    """
    sources = dataset / "sources"
    if not sources.is_dir():
        raise ConfigError(f"{sources} does not exist: a SQuAD 2.0 data set has its articles there.")
    questions = read_jsonl(dataset / "questions.jsonl")[:limit]
    store = store or Path(".qa") / "eval" / f"squad2-{slug(dataset)}"
    settings = Settings(sources=sources, store=store, chroma_url=None)
    service = QAService(settings, embeddings=embeddings)
    service.index(progress=progress)
    # An LLM answerer has no threshold of its own: every refusal then counts as a rule refusal.
    threshold = float(getattr(service.answerer, "min_confidence", 0.0) or 0.0)
    records, latencies = [], []
    exact = quotes = 0
    for q in questions:
        t0 = time.perf_counter()
        answer = service.ask(q["q"])
        latencies.append(time.perf_counter() - t0)
        e, t = count_exact(answer, service.reader)
        exact, quotes = exact + e, quotes + t
        records.append(record(q, answer, threshold))
    scores = squad2_scores(records, threshold)
    latencies.sort()
    n = len(records)
    return Squad2Result(
        dataset=str(dataset),
        questions=n,
        answerable=sum(r.answerable for r in records),
        unanswerable=sum(not r.answerable for r in records),
        threshold=threshold,
        **scores,
        exact_quote_rate=ratio(exact, quotes),
        latency_ms_p50=round(1000 * latencies[n // 2], 1) if n else None,
        curve=curve(records),
    )


def plot_curve(result: Squad2Result, path: Path) -> None:
    """Write a PNG: precision against coverage, and the main figures against the threshold."""
    try:
        # Imported here: plotting is an optional extra; the Agg canvas needs no display.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "Plotting needs matplotlib: install it with pip install '.[plot]'."
        ) from exc
    pts = result.curve
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    xs = [p.coverage for p in pts if p.coverage is not None and p.precision is not None]
    ys = [p.precision for p in pts if p.coverage is not None and p.precision is not None]
    left.plot(xs, ys, marker=".")
    if result.coverage is not None and result.precision is not None:
        left.plot(
            result.coverage,
            result.precision,
            marker="o",
            color="grey",
            linestyle="",
            label="run threshold",
        )
        left.legend(loc="best")
    left.set(xlabel="coverage (answered / all)", ylabel="precision", title="precision vs coverage")
    ts = [p.threshold for p in pts]
    for key in ("overall", "answerable_top_quote", "unanswerable_refused"):
        values = [getattr(p, key) for p in pts]
        right.plot(ts, [float("nan") if v is None else v for v in values], marker=".", label=key)
    right.axvline(result.threshold, color="grey", linestyle="--", label="run threshold")
    right.set(xlabel="refusal threshold", ylabel="share", title=Path(result.dataset).name)
    right.legend(loc="best")
    for ax in (left, right):
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
