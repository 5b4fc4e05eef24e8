"""``qa eval answers`` (question files like seeds_dev.jsonl) and ``qa eval squad`` (SQuAD-style).

Both check every quote against its source at its offsets, so a broken quote is a counted failure.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from qa.domain import Answer
from qa.errors import ConfigError


def register(sub: Any) -> None:
    """Add ``answers`` and ``squad`` to ``qa eval``."""
    p = sub.add_parser("answers", help="score answers on a question file (seeds_dev.jsonl format)")
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--sources", type=Path)
    p.add_argument("--store", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_answers)

    p = sub.add_parser("squad", help="score quotes on SQuAD-style data (passages.jsonl, qa.jsonl)")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--store", type=Path)
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_squad)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
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


def quotes_exact(answer: Answer, sources_dir: Path, reader: Any) -> tuple[int, int]:
    """(exact, total) quotes of an answer, re-read from the source files."""
    exact = total = 0
    for cit in answer.citations + answer.related:
        total += 1
        try:
            text = reader.read(cit.source).text
        except Exception:  # a missing source counts as not exact
            continue
        exact += text[cit.start : cit.end] == cit.quote
    return exact, total


def score_question(q: dict[str, Any], answer: Answer) -> tuple[bool, str]:
    """Whether an answer is right for a question of the seeds_dev format, and why not."""
    if q.get("kind") == "refuse":
        return answer.refused, "" if answer.refused else "answered a question it should refuse"
    if answer.refused:
        return False, "refused an answerable question"
    quotes = " ".join(c.quote for c in answer.citations).lower()
    if q.get("expect_any") and not any(e.lower() in quotes for e in q["expect_any"]):
        return False, f"no quote contains any of {q['expect_any']}"
    cited = {c.source for c in answer.citations}
    if q.get("sources_any") and not any(s in c for s in q["sources_any"] for c in cited):
        return False, f"no cited source matches {q['sources_any']}"
    missing = [s for s in q.get("expect_all_sources", []) if not any(s in c for c in cited)]
    if missing:
        return False, f"did not cite {missing}"
    return True, ""


def evaluate_answers(service: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Run and score every question; returns the summary with each miss listed."""
    answerable = refusals = right = refused_right = exact = quotes = 0
    cited_right = cited_total = 0
    misses = []
    for q in questions:
        answer = service.ask(q["q"], q.get("history"))
        ok, why = score_question(q, answer)
        e, t = quotes_exact(answer, service.sources_dir, service.reader)
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
            misses.append({"id": q.get("id"), "q": q["q"], "why": why, "answer": answer.answer})
    return {
        "questions": len(questions),
        "answerable_accuracy": _ratio(right, answerable),
        "refusal_accuracy": _ratio(refused_right, refusals),
        "exact_quote_rate": _ratio(exact, quotes),
        "citation_accuracy": _ratio(cited_right, cited_total),
        "answerable": answerable,
        "refusals": refusals,
        "misses": misses,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def cmd_answers(args: Any) -> int:
    """``qa eval answers``."""
    from qa.cli import _service

    questions = _read_jsonl(args.questions)
    service = _service(args)
    report = service.index()
    if report.errors and not args.json:
        for err in report.errors:
            print(f"failed: {err['source']}: {err['error']}", file=sys.stderr)
    result = evaluate_answers(service, questions)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    for key in ("answerable_accuracy", "refusal_accuracy", "exact_quote_rate", "citation_accuracy"):
        value = result[key]
        print(f"{key:22} {'n/a' if value is None else f'{value:.1%}'}")
    for miss in result["misses"]:
        print(f"miss {miss['id']}: {miss['q']} -> {miss['why']}")
    return 0


def _passage_file(passage_id: str) -> str:
    slug = re.sub(r"[^\w.-]+", "_", passage_id)[:80]
    return f"{slug}-{hashlib.sha1(passage_id.encode()).hexdigest()[:6]}.txt"


def cmd_squad(args: Any) -> int:
    """``qa eval squad``: index the passages, ask every question, check the quotes."""
    from qa.cli import _ProgressBar
    from qa.service import QAService
    from qa.settings import Settings

    dataset = args.dataset
    passages = _read_jsonl(dataset / "passages.jsonl")
    qas = _read_jsonl(dataset / "qa.jsonl")[: args.limit]
    store = args.store or Path(".qa") / "eval" / f"squad-{_slug(dataset)}"
    sources = store / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for p in passages:
        path = sources / _passage_file(p["_id"])
        if not path.exists():
            path.write_text(p["text"], encoding="utf-8")
    service = QAService(Settings(sources=sources, store=store / "index"))
    bar = None if args.json else _ProgressBar(sys.stderr)
    service.index(progress=bar.update if bar else None)
    if bar:
        bar.close()
    top = anyq = right_passage = refused = exact = quotes = 0
    latencies = []
    for qa in qas:
        t0 = time.perf_counter()
        answer = service.ask(qa["question"])
        latencies.append(time.perf_counter() - t0)
        e, t = quotes_exact(answer, sources, service.reader)
        exact, quotes = exact + e, quotes + t
        if answer.refused:
            refused += 1
            continue
        gold = qa["answer"].lower()
        best = max(answer.citations, key=lambda c: c.score)
        top += gold in best.quote.lower()
        anyq += any(gold in c.quote.lower() for c in answer.citations)
        right_passage += any(c.source == _passage_file(qa["passage_id"]) for c in answer.citations)
    n = len(qas)
    latencies.sort()
    result = {
        "dataset": str(dataset),
        "questions": n,
        "top_quote_contains_answer": _ratio(top, n),
        "any_quote_contains_answer": _ratio(anyq, n),
        "right_passage_cited": _ratio(right_passage, n),
        "refused": _ratio(refused, n),
        "exact_quote_rate": _ratio(exact, quotes),
        "latency_ms_p50": round(1000 * latencies[n // 2], 1) if n else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:26} {value}")
    return 0


def _slug(path: Path) -> str:
    resolved = str(path.resolve())
    return f"{path.name}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"
