"""``qa train answerability``: fit the answerability model on labelled question sets."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from evals import answerability
from frontends.cli.progress import progress_bar
from qa.answering.answerability import MODEL_FILE


def register(sub: Any) -> None:
    """Add ``answerability`` to ``qa train``."""
    p = sub.add_parser(
        "answerability",
        help="fit the model that decides which quote answers and when to refuse",
        description="Asks every question through the answerer's retrieval and candidate "
        "scoring, cross-validates by article (a model is never scored on an article it was "
        "fitted on), chooses the refusal threshold out of fold, fits on everything and writes "
        "the model file. The shipped model was made with the command recorded in it.",
    )
    p.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="questions.jsonl + sources/ (squad2_dev, docs_dev) or passages.jsonl + qa.jsonl "
        "(xquad_en); repeatable",
    )
    p.add_argument(
        "--questions",
        nargs=2,
        type=Path,
        action="append",
        default=[],
        metavar=("FILE", "SOURCES"),
        help="a question file in the seeds_dev.jsonl format and its sources folder; repeatable",
    )
    p.add_argument("--out", type=Path, default=MODEL_FILE, help="model file to write")
    p.add_argument(
        "--store", type=Path, default=Path(".qa/eval/train"), help="indexes and cached rows"
    )
    p.add_argument("--folds", type=int, default=8, help="cross-validation folds (by article)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--hidden", type=int, default=0, help="hidden units (0: logistic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_answerability)


def cmd_answerability(args: argparse.Namespace) -> int:
    """Fit, report the cross-validated figures per data set, write the model."""
    if not args.dataset and not args.questions:
        raise ConfigError("Give at least one --dataset DIR or --questions FILE SOURCES.")
    sets = [answerability.load_question_set(d, args.store / f"data-{d.name}") for d in args.dataset]
    sets += [
        answerability.load_question_set(f, args.store / f"data-{f.stem}", s)
        for f, s in args.questions
    ]
    command = "qa " + shlex.join(str(a) for a in args.argv)
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        result = answerability.train(
            sets,
            args.store,
            args.out,
            folds=args.folds,
            seed=args.seed,
            c=args.c,
            hidden=args.hidden,
            command=command,
            progress=progress,
        )
    if args.json:
        print(json.dumps(result.model_dump(mode="json")))
        return 0
    print(f"model {result.model}, threshold {result.threshold:.2f} -> {result.output}")
    print(f"cross-validated by article ({result.folds} folds):")
    keys = ("answerable_top_quote", "wrongly_refused", "unanswerable_refused", "overall")
    print(f"{'data set':18} {'questions':>9} " + " ".join(f"{k:>20}" for k in keys))
    for name, figures in result.cross_validated.items():
        cells = " ".join(f"{_pct(figures.get(k)):>20}" for k in keys)
        print(f"{name:18} {figures['questions']:>9} {cells}")
    return 0


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "n/a"
