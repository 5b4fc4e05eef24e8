"""Entry point of the ``qa`` command: the argument parser and the error handling."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import QAError
from frontends.cli import commands, eval_commands, train_commands


def add_paths(p: argparse.ArgumentParser) -> None:
    """``--sources`` and ``--store``, which override ``QA_SOURCES`` and ``QA_STORE``."""
    p.add_argument("--sources", type=Path, help="documents folder (QA_SOURCES, default sources/)")
    p.add_argument("--store", type=Path, help="index folder (QA_STORE, default .qa/)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="qa", description="Citation-grounded Q&A over your documents."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index incrementally")
    add_paths(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=commands.cmd_index)

    p = sub.add_parser("ask", help="answer a question with verified quotes")
    add_paths(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--retriever", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--top-k", type=int, dest="top_k")
    p.add_argument(
        "--follow-up",
        action="append",
        metavar="EARLIER_QUESTION",
        help="an earlier question of the conversation (repeatable, oldest first)",
    )
    p.add_argument(
        "--source",
        action="append",
        dest="scope",
        metavar="NAME",
        help="answer only from this source (its name in `qa sources`, or its title; repeatable)",
    )
    p.add_argument("question", help="the question, or - to read one per line from stdin")
    p.set_defaults(func=commands.cmd_ask)

    p = sub.add_parser("show", help="print the extracted text citations of a source refer to")
    add_paths(p)
    p.add_argument("source")
    p.add_argument("--start", type=int)
    p.add_argument("--end", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_show)

    p = sub.add_parser("sources", help="list sources and their index status")
    add_paths(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_sources)

    p = sub.add_parser("serve", help="run the web app")
    add_paths(p)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")
    p.set_defaults(func=commands.cmd_serve)

    p = sub.add_parser("eval", help="evaluate retrieval or answers on a data set")
    eval_commands.register(p.add_subparsers(dest="eval_command", required=True), add_paths)

    p = sub.add_parser("train", help="fit a model the answerer uses, on labelled data")
    train_commands.register(p.add_subparsers(dest="train_command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qa`` command; errors of the ``QAError`` family become one line and an exit code."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `qa train`
    try:
        return int(args.func(args))
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `qa ask ... | head`: the reader left; stop quietly like other Unix tools.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - flushing at exit must not fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
