"""``qa eval``: score retrieval and answers on public data sets."""

from __future__ import annotations

from typing import Any


def add_eval_parser(sub: Any) -> None:
    """Register ``qa eval`` and its subcommands."""
    p = sub.add_parser("eval", help="evaluate retrieval or answers on a data set")
    ev = p.add_subparsers(dest="eval_command", required=True)
    from qa import eval_answers, eval_retrieval

    eval_retrieval.register(ev)
    eval_answers.register(ev)
