"""Score answers: question files like seeds_dev.jsonl, and SQuAD-style passages and questions.

Both check every quote against its source at its offsets (``qa.verify.count_exact``), so a
broken quote is a counted failure. Questions go through ``QAService`` like any user's.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from core.errors import ConfigError
from core.progress import ProgressCallback
from core.settings import Settings
from core.types import Answer, IndexReport
from evals.baseline import NaiveRanker
from qa.service import QAService
from qa.verify import count_exact


class Miss(BaseModel):
    """A question answered wrongly, and why."""

    id: str | int | None
    q: str
    why: str
    answer: str


class AnswersResult(BaseModel):
    """The contract of ``qa eval answers --json``."""

    questions: int
    answerable_accuracy: float | None
    refusal_accuracy: float | None
    exact_quote_rate: float | None
    citation_accuracy: float | None
    answerable: int
    refusals: int
    misses: list[Miss] = Field(default_factory=list)
    baseline: AnswersResult | None = Field(
        None, description="The same questions answered by a baseline (--baseline naive)."
    )
    baseline_name: str | None = None


class SquadResult(BaseModel):
    """The contract of ``qa eval squad --json``."""

    dataset: str
    questions: int
    top_quote_contains_answer: float | None
    any_quote_contains_answer: float | None
    right_passage_cited: float | None
    refused: float | None
    exact_quote_rate: float | None
    latency_ms_p50: float | None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file; a clear error for a missing file or a bad line."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    return rows


def score_question(q: dict[str, Any], answer: Answer) -> tuple[bool, str]:
    """Whether an answer is right for a question of the seeds_dev format, and why not."""
    if q.get("kind") == "refuse":
        return answer.refused, "" if answer.refused else "answered a question it should refuse"
    if answer.refused:
        return False, "refused an answerable question"
    # Case-insensitive after collapsing whitespace (a quote may span a wrapped line).
    quotes = flat(" ".join(c.quote for c in answer.citations))
    if q.get("expect_any") and not any(flat(e) in quotes for e in q["expect_any"]):
        return False, f"no quote contains any of {q['expect_any']}"
    cited = {c.source for c in answer.citations}
    if q.get("sources_any") and not any(s in c for s in q["sources_any"] for c in cited):
        return False, f"no cited source matches {q['sources_any']}"
    missing = [s for s in q.get("expect_all_sources", []) if not any(s in c for c in cited)]
    if missing:
        return False, f"did not cite {missing}"
    return True, ""


def flat(text: str) -> str:
    """Lower case, whitespace collapsed: how gold answers and quotes are compared."""
    return " ".join(text.split()).lower()


def evaluate_answers(
    service: QAService,
    questions: list[dict[str, Any]],
    ask: Callable[[dict[str, Any]], Answer] | None = None,
) -> AnswersResult:
    """Run and score every question; returns the summary with each miss listed.

    ``ask`` answers a question in place of the service (a baseline); quotes are still checked
    against the service's sources.
    """
    answerable = refusals = right = refused_right = exact = quotes = 0
    cited_right = cited_total = 0
    misses = []
    for q in questions:
        answer = ask(q) if ask else service.ask(q["q"], q.get("history"))
        ok, why = score_question(q, answer)
        e, t = count_exact(answer, service.reader)
        exact, quotes = exact + e, quotes + t
        if q.get("kind") == "refuse":
            refusals += 1
            refused_right += ok
        else:
            answerable += 1
            right += ok
            if not answer.refused and q.get("sources_any"):
                cited_total += len(answer.citations)
                cited_right += sum(
                    any(s in c.source for s in q["sources_any"]) for c in answer.citations
                )
        if not ok:
            misses.append(Miss(id=q.get("id"), q=q["q"], why=why, answer=answer.answer))
    return AnswersResult(
        questions=len(questions),
        answerable_accuracy=ratio(right, answerable),
        refusal_accuracy=ratio(refused_right, refusals),
        exact_quote_rate=ratio(exact, quotes),
        citation_accuracy=ratio(cited_right, cited_total),
        answerable=answerable,
        refusals=refusals,
        misses=misses,
    )


def ratio(a: int, b: int) -> float | None:
    """``a / b`` rounded as every figure is reported; None when there is nothing to count."""
    return round(a / b, 4) if b else None


def passage_file(passage_id: str) -> str:
    """The source file name a SQuAD-style passage is written to."""
    slug = re.sub(r"[^\w.-]+", "_", passage_id)[:80]
    return f"{slug}-{hashlib.sha1(passage_id.encode()).hexdigest()[:6]}.txt"


def write_passages(passages: Path, sources: Path) -> Path:
    """Write each passage of a ``passages.jsonl`` as a source file (once); return the folder."""
    sources.mkdir(parents=True, exist_ok=True)
    for p in read_jsonl(passages):
        path = sources / passage_file(p["_id"])
        if not path.exists():
            path.write_text(p["text"], encoding="utf-8")
    return sources


BASELINES = ("naive",)


def run_answers(
    service: QAService,
    questions_file: Path,
    progress: ProgressCallback | None = None,
    baseline: str | None = None,
) -> tuple[AnswersResult, IndexReport]:
    """Index the service's sources (incrementally), then ask and score every question.

    With ``baseline="naive"`` the same questions also go to :class:`evals.baseline.NaiveRanker`
    over the same extracted texts, and its figures come back in ``result.baseline``.
    """
    questions = read_jsonl(questions_file)
    report = service.index(progress=progress)
    result = evaluate_answers(service, questions)
    if baseline is not None:
        if baseline not in BASELINES:
            raise ConfigError(
                f"Unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}."
            )
        ranker = NaiveRanker(service)
        result.baseline = evaluate_answers(service, questions, ask=lambda q: ranker.answer(q["q"]))
        result.baseline_name = baseline
    return result, report


def run_squad(
    dataset: Path,
    store: Path | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    embeddings: Embeddings | None = None,
) -> SquadResult:
    """Write the passages as sources, index them, ask every question, check the quotes.

    Args:
        dataset: Folder with ``passages.jsonl`` and ``qa.jsonl``.
        store: Where the sources and the index go (default under ``.qa/eval/``).
        limit: Only the first N questions.
        progress: Indexing progress.
        embeddings: The model (the packaged one by default; tests pass a fake).

    """
    qas = read_jsonl(dataset / "qa.jsonl")[:limit]
    store = store or Path(".qa") / "eval" / f"squad-{slug(dataset)}"
    sources = write_passages(dataset / "passages.jsonl", store / "sources")
    settings = Settings(sources=sources, store=store / "index", chroma_url=None)
    service = QAService(settings, embeddings=embeddings)
    service.index(progress=progress)
    top = anyq = right_passage = refused = exact = quotes = 0
    latencies = []
    for qa in qas:
        t0 = time.perf_counter()
        answer = service.ask(qa["question"])
        latencies.append(time.perf_counter() - t0)
        e, t = count_exact(answer, service.reader)
        exact, quotes = exact + e, quotes + t
        if answer.refused:
            refused += 1
            continue
        gold = qa["answer"].lower()
        best = max(answer.citations, key=lambda c: c.score)
        top += gold in best.quote.lower()
        anyq += any(gold in c.quote.lower() for c in answer.citations)
        right_passage += any(c.source == passage_file(qa["passage_id"]) for c in answer.citations)
    n = len(qas)
    latencies.sort()
    return SquadResult(
        dataset=str(dataset),
        questions=n,
        top_quote_contains_answer=ratio(top, n),
        any_quote_contains_answer=ratio(anyq, n),
        right_passage_cited=ratio(right_passage, n),
        refused=ratio(refused, n),
        exact_quote_rate=ratio(exact, quotes),
        latency_ms_p50=round(1000 * latencies[n // 2], 1) if n else None,
    )


def slug(path: Path) -> str:
    """A folder name for a data set's store: its name and a hash of where it is."""
    resolved = str(path.resolve())
    return f"{path.name}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"
