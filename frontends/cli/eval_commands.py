"""``qa eval retrieval | answers | squad | squad2 | conversations``: run one, print figures."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from evals import answers, conversations, retrieval, squad2
from frontends.cli.commands import print_failures, service_from
from frontends.cli.progress import progress_bar


def register(sub: Any, add_paths: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the evaluations (``retrieval`` … ``conversations``) to ``qa eval``."""
    p = sub.add_parser(
        "retrieval",
        help="score bm25, dense and hybrid retrieval on a BEIR-layout data set",
        description="nDCG@10, recall@10, recall@100, MRR@10 and median latency per retriever.",
    )
    p.add_argument(
        "--dataset",
        type=Path,
        required=True,
        help="folder with corpus.jsonl[.gz], queries.jsonl and qrels/test.tsv",
    )
    p.add_argument(
        "--store",
        type=Path,
        help="index folder for this data set (default: under <QA_STORE>/eval/)",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=["bm25", "dense", "hybrid"],
        default=["bm25", "dense", "hybrid"],
        help="retrievers to score",
    )
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(func=cmd_retrieval)

    p = sub.add_parser("answers", help="score answers on a question file (seeds_dev.jsonl format)")
    p.add_argument("--questions", type=Path, required=True)
    add_paths(p)
    p.add_argument(
        "--baseline",
        choices=answers.BASELINES,
        help="also score a baseline on the same sources and questions and print it beside: "
        "naive = the single most similar MiniLM sentence, never refusing",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_answers)

    p = sub.add_parser("squad", help="score quotes on SQuAD-style data (passages.jsonl, qa.jsonl)")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--store", type=Path)
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_squad)

    p = sub.add_parser(
        "squad2",
        help="score answers and refusals on SQuAD 2.0-style data (questions.jsonl, sources/)",
        description="Answered right, refused right, and the same figures at every refusal "
        "threshold from 0.00 to 0.95, from one run.",
    )
    p.add_argument(
        "--dataset", type=Path, required=True, help="folder with questions.jsonl and sources/"
    )
    p.add_argument("--store", type=Path, help="index folder (default: under .qa/eval/)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", type=Path, metavar="FILE", help="also draw the curve into a PNG")
    p.set_defaults(func=cmd_squad2)

    p = sub.add_parser(
        "conversations",
        help="score multi-turn conversations (conversations_dev.jsonl format)",
        description="Each turn is asked with the earlier turns as history; prints turn, "
        "follow-up and first-turn accuracy and every miss.",
    )
    p.add_argument("--conversations", type=Path, required=True, help="the JSON Lines file")
    p.add_argument(
        "--corpus",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="the sources folder of a corpus the conversations name (repeatable)",
    )
    p.add_argument("--store", type=Path, help="folder for the corpora's indexes")
    p.add_argument("--verbose", action="store_true", help="print every turn, not only misses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_conversations)


def cmd_retrieval(args: argparse.Namespace) -> int:
    """``qa eval retrieval``: index the data set if needed, then print the scores."""
    dataset: Path = args.dataset
    if not dataset.is_dir():
        raise ConfigError(f"Data set folder {dataset} does not exist.")
    store_dir: Path = args.store or retrieval.default_store(dataset)
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result, report = retrieval.run(dataset, store_dir, modes=args.methods, progress=progress)
    if args.json:
        print(json.dumps(result))
    else:
        c = report.chunks
        print(
            f"index {store_dir}: {c.embedded} chunks embedded, {c.reused} reused, "
            f"{report.store.chunks} in store",
            file=sys.stderr,
        )
        print(retrieval.format_table(result))
    return 0


def cmd_answers(args: argparse.Namespace) -> int:
    """``qa eval answers``: index the sources, ask every question, print the scores and misses."""
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result, report = answers.run_answers(
            service_from(args), args.questions, progress, baseline=args.baseline
        )
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return 0
    print_failures(report)
    base = result.baseline
    if base is not None:
        print(f"{'':22} {'project':>8} {result.baseline_name:>8}")
    for key in ("answerable_accuracy", "refusal_accuracy", "exact_quote_rate", "citation_accuracy"):
        value = _percent(getattr(result, key))
        if base is None:
            print(f"{key:22} {value}")
        else:
            print(f"{key:22} {value:>8} {_percent(getattr(base, key)):>8}")
    for miss in result.misses:
        print(f"miss {miss.id}: {miss.q} -> {miss.why}")
    return 0


CONVERSATION_FIGURES = (
    "follow_up_accuracy",
    "first_turn_accuracy",
    "refusal_accuracy",
    "exact_quote_rate",
)


def cmd_conversations(args: argparse.Namespace) -> int:
    """``qa eval conversations``: index the corpora, ask every turn, print figures and misses."""
    corpora = conversations.parse_corpora(args.corpus)
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result = conversations.run_conversations(args.conversations, corpora, args.store, progress)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return 0
    for r in result.results:
        if r.right and not args.verbose:
            continue
        mark = "ok  " if r.right else "miss"
        print(f"{mark} {r.conversation}.{r.turn}: {r.q}")
        if r.interpreted_as:
            print(f"       read as: {r.interpreted_as}")
        if not r.right:
            print(f"       {r.why}")
            print(f"       answer: {r.answer[:300]}")
    right = sum(r.right for r in result.results)
    print(f"{'turns':22} {right}/{result.turns} {_percent(result.turn_accuracy)}")
    for key in (
        "follow_up_accuracy",
        "first_turn_accuracy",
        "refusal_accuracy",
        "exact_quote_rate",
    ):
        print(f"{key:22} {_percent(getattr(result, key))}")
    return 0


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def cmd_squad(args: argparse.Namespace) -> int:
    """``qa eval squad``: index the passages, ask every question, check the quotes."""
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result = answers.run_squad(args.dataset, args.store, args.limit, progress)
    if args.json:
        print(json.dumps(result.model_dump(mode="json")))
    else:
        for key, value in result.model_dump().items():
            print(f"{key:26} {value}")
    return 0


def cmd_squad2(args: argparse.Namespace) -> int:
    """``qa eval squad2``: index the articles, ask every question, print figures and curve."""
    dataset: Path = args.dataset
    if not dataset.is_dir():
        raise ConfigError(f"Data set folder {dataset} does not exist.")
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result = squad2.run_squad2(dataset, args.store, args.limit, progress)
    if args.json:
        print(json.dumps(result.model_dump(mode="json")))
    else:
        print(format_squad2(result))
    # Drawn after printing: a missing matplotlib must not lose a long run's figures.
    if args.plot:
        squad2.plot_curve(result, args.plot)
        print(f"curve drawn in {args.plot}", file=sys.stderr)
    return 0


SQUAD2_FIGURES = (
    "answerable_top_quote",
    "answerable_any_quote",
    "answerable_right_source",
    "wrongly_refused",
    "unanswerable_refused",
    "overall",
    "always_answer",
    "exact_quote_rate",
)


def format_squad2(result: squad2.Squad2Result) -> str:
    """The figures as percentages, then the threshold curve as an aligned table."""
    lines = [
        f"{'questions':24} {result.questions} "
        f"({result.answerable} answerable, {result.unanswerable} unanswerable)",
        f"{'threshold':24} {result.threshold:.2f}",
    ]
    lines += [f"{key:24} {_percent(getattr(result, key))}" for key in SQUAD2_FIGURES]
    p50 = "n/a" if result.latency_ms_p50 is None else f"{result.latency_ms_p50:.1f} ms"
    lines += [f"{'latency_p50':24} {p50}", ""]
    columns = (
        "threshold",
        "coverage",
        "precision",
        "overall",
        "answerable_top_quote",
        "unanswerable_refused",
    )
    lines.append("  ".join(columns))
    # The grid row nearest the threshold in force is marked; the figures above are exact.
    nearest = min(result.curve, key=lambda p: abs(p.threshold - result.threshold), default=None)
    for point in result.curve:
        mark = "  <- run" if point is nearest else ""
        cells = [f"{point.threshold:>{len(columns[0])}.2f}"]
        cells += [f"{_percent(getattr(point, c)):>{len(c)}}" for c in columns[1:]]
        lines.append("  ".join(cells) + mark)
    return "\n".join(lines)
