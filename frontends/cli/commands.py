"""The ``qa`` subcommands index, ask, show, sources and serve: arguments in, text or JSON out."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.errors import ConfigError, QAError
from core.settings import Settings
from core.types import Answer, IndexReport, Turn, as_turns
from frontends.cli.progress import progress_bar
from frontends.render import files_summary
from qa.service import QAService

APP = Path(__file__).resolve().parents[2] / "app.py"


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings from the environment, with the command line's options on top."""
    overrides: dict[str, Any] = {}
    for name in ("sources", "store", "retriever", "top_k"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def service_from(args: argparse.Namespace) -> QAService:
    """The service for these arguments."""
    return QAService(settings_from(args))


# index -------------------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index; prints the report."""
    service = service_from(args)
    with progress_bar(sys.stderr, quiet=args.json) as progress:
        report = service.index(progress=progress)
    if args.json:
        print(json.dumps(report.model_dump(mode="json")))
    else:
        print(format_report(report))
        print_failures(report)
    return report.exit_code


def format_report(report: IndexReport) -> str:
    """What an index run did, in three lines."""
    c = report.chunks
    return (
        f"files: {files_summary(report)}\n"
        f"chunks: {c.embedded} embedded, {c.reused} reused, {c.deleted} deleted\n"
        f"store: {report.store.sources} sources, {report.store.chunks} chunks "
        f"({report.seconds:.1f}s)"
    )


def print_failures(report: IndexReport) -> None:
    """One line on stderr for each file that could not be indexed."""
    for err in report.errors:
        print(f"failed: {err.source}: {err.error}", file=sys.stderr)


# ask ---------------------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question, or one per line of standard input with ``-``."""
    service = service_from(args)
    history = list(args.follow_up or [])
    if args.question == "-":
        for line in sys.stdin:
            if not line.strip():
                continue
            question = line.strip()
            try:
                question, hist, scope = _parse_line(line)
                out = service.ask(question, hist, scope or args.scope).to_json_dict()
            except QAError as exc:
                out = {"question": question, "error": str(exc)}
            print(json.dumps(out, ensure_ascii=False), flush=True)
        return 0
    answer = service.ask(args.question, history, args.scope)
    if args.json:
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False))
        return 0
    print_answer(answer)
    return 0


def print_answer(answer: Answer) -> None:
    """The answer, its numbered citations, related reading for a refusal, warnings on stderr."""
    print(answer.answer)
    for cit in answer.citations:
        page = f", page {cit.page}" if cit.page else ""
        print(f"\n[{cit.n}] {cit.source}:{cit.start}-{cit.end}{page} (score {cit.score:.2f})")
        if cit.section:
            print(f"    {cit.section}")
        print(f'    "{cit.quote}"')
    if answer.refused and answer.related:
        print("\nRelated passages (not an answer):")
        for cit in answer.related:
            print(f'  - {cit.source}: "{cit.quote}"')
    for warning in answer.warnings:
        print(f"note: {warning}", file=sys.stderr)


def _parse_line(line: str) -> tuple[str, list[Turn], list[str]]:
    """A plain question, or a JSON object ``{"question", "history": [...], "sources": [...]}``.

    A history item is an earlier question, or ``{"question", "citations": [...]}`` with the
    citations of that turn's answer (as ``qa ask --json`` printed them). ``sources`` limits the
    question to those sources (``--source`` gives the default for lines without it).

    Raises:
        ConfigError: the history is not a list of those, or sources not a list of names.

    """
    text = line.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return text, [], []
        scope = obj.get("sources") or []
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise ConfigError('"sources" must be a list of source names')
        items = obj.get("history", [])
        try:
            if not isinstance(items, list):
                raise TypeError("not a list")
            history = as_turns(items)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                '"history" must be a list of questions or {"question", "citations"} objects'
            ) from exc
        return str(obj.get("question", "")), history, scope
    return text, [], []


# show / sources ----------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    """Print the exact text that offsets of a source refer to."""
    service = service_from(args)
    src = service.show(args.source)
    text = (
        src.text[args.start : args.end]
        if args.start is not None or args.end is not None
        else src.text
    )
    if args.json:
        print(
            json.dumps(
                {
                    "source": src.source,
                    "kind": src.kind,
                    "title": src.title,
                    "pages": src.pages,
                    "text": text,
                },
                ensure_ascii=False,
            )
        )
    else:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    """List sources with their status."""
    rows = service_from(args).list_sources()
    if args.json:
        print(json.dumps([row.to_json_dict() for row in rows], ensure_ascii=False))
        return 0
    for row in rows:
        err = f"  ({row.error})" if row.error else ""
        print(f"{row.source}\t{row.status}\t{row.chunks or 0} chunks{err}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the Streamlit app."""
    env = dict(os.environ)
    settings = settings_from(args)
    env["QA_SOURCES"] = str(settings.sources)
    env["QA_STORE"] = str(settings.store)
    # The uploader's limit is the indexer's (Streamlit counts whole megabytes); "Deploy" and the
    # developer menu are hidden from users.
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(args.port), "--server.address", args.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", str(max(1, math.floor(settings.max_file_mb))),
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    return subprocess.call(cmd, env=env)
