"""``qa eval retrieval | answers | squad``: run an evaluation, print its figures or its JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from evals import answers, retrieval
from frontends.cli.commands import print_failures, service_from
from frontends.cli.progress import progress_bar


def register(sub: Any, add_paths: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``retrieval``, ``answers`` and ``squad`` to ``qa eval``."""
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
