"""``qa eval``: score answers and retrieval on public data sets."""

from __future__ import annotations

from typing import Any


def add_eval_parser(sub: Any) -> None:
    """Register ``qa eval`` subcommands."""
    p = sub.add_parser("eval", help="evaluate answers or retrieval on a data set")
    p.add_subparsers(dest="eval_command", required=True)
