"""The ``qa`` command: index, ask, show, sources, serve, eval."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from qa.errors import QAError
from qa.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("sources", "store", "retriever", "top_k"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _service(args: argparse.Namespace) -> Any:
    from qa.service import QAService

    return QAService(_settings(args))


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", type=Path, help="documents folder (QA_SOURCES, default sources/)")
    p.add_argument("--store", type=Path, help="index folder (QA_STORE, default .qa/)")


# index -------------------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index; prints the report."""
    service = _service(args)
    bar = None if args.json else _ProgressBar(sys.stderr)
    report = service.index(progress=bar.update if bar else None)
    if bar:
        bar.close()
    if args.json:
        print(json.dumps(report.model_dump(mode="json")))
    else:
        f, c = report.files, report.chunks
        print(
            f"files: {f['added']} added, {f['changed']} changed, {f['removed']} removed, "
            f"{f['unchanged']} unchanged, {f['failed']} failed\n"
            f"chunks: {c['embedded']} embedded, {c['reused']} reused, {c['deleted']} deleted\n"
            f"store: {report.store['sources']} sources, {report.store['chunks']} chunks "
            f"({report.seconds:.1f}s)"
        )
        for err in report.errors:
            print(f"failed: {err['source']}: {err['error']}", file=sys.stderr)
    return report.exit_code


class _ProgressBar:
    """Files and chunks, rate and ETA on one line of stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = ""

    def update(self, p: Any) -> None:
        eta = f", ETA {p.eta:.0f}s" if p.eta is not None and p.chunks_done < p.chunks_total else ""
        line = (
            f"indexing: files {p.files_done}/{p.files_total}, chunks embedded "
            f"{p.chunks_done}/{p.chunks_total} ({p.rate:.1f}/s{eta}) {p.source[-40:]}"
        )
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(len(self._last)))
            self.stream.flush()
            self._last = line[:120]
        elif p.files_done == p.files_total:
            self._last = line

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
        elif self._last:
            self.stream.write(self._last + "\n")


# ask ---------------------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question, or one per line of standard input with ``-``."""
    service = _service(args)
    history = list(args.follow_up or [])
    if args.question == "-":
        for line in sys.stdin:
            if not line.strip():
                continue
            question, hist = _parse_line(line)
            try:
                out = service.ask(question, hist).to_json_dict()
            except QAError as exc:
                out = {"question": question, "error": str(exc)}
            print(json.dumps(out, ensure_ascii=False), flush=True)
        return 0
    answer = service.ask(args.question, history)
    if args.json:
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False))
        return 0
    print(answer.answer)
    for cit in answer.citations:
        page = f", page {cit.page}" if cit.page else ""
        print(f"\n[{cit.n}] {cit.source}:{cit.start}-{cit.end}{page} (score {cit.score:.2f})")
        print(f'    "{cit.quote}"')
    if answer.refused and answer.related:
        print("\nRelated passages (not an answer):")
        for cit in answer.related:
            print(f'  - {cit.source}: "{cit.quote}"')
    for warning in answer.warnings:
        print(f"note: {warning}", file=sys.stderr)
    return 0


def _parse_line(line: str) -> tuple[str, list[str]]:
    """A plain question, or a JSON object ``{"question": ..., "history": [...]}``."""
    text = line.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return text, []
        history = [
            h if isinstance(h, str) else str(h.get("question", "")) for h in obj.get("history", [])
        ]
        return str(obj.get("question", "")), [h for h in history if h]
    return text, []


# show / sources ----------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    """Print the exact text that offsets of a source refer to."""
    service = _service(args)
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
    rows = _service(args).list_sources()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        err = f"  ({row['error']})" if row.get("error") else ""
        print(f"{row['source']}\t{row.get('status', '')}\t{row.get('chunks', 0)} chunks{err}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the Streamlit app."""
    app = Path(__file__).resolve().parent.parent / "app.py"
    env = dict(os.environ)
    settings = _settings(args)
    env["QA_SOURCES"] = str(settings.sources)
    env["QA_STORE"] = str(settings.store)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(args.port), "--server.address", args.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    return subprocess.call(cmd, env=env)


# main --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="qa", description="Citation-grounded Q&A over your documents."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index incrementally")
    _add_paths(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with verified quotes")
    _add_paths(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--retriever", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--top-k", type=int, dest="top_k")
    p.add_argument(
        "--follow-up",
        action="append",
        metavar="EARLIER_QUESTION",
        help="an earlier question of the conversation (repeatable, oldest first)",
    )
    p.add_argument("question", help="the question, or - to read one per line from stdin")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("show", help="print the extracted text citations of a source refer to")
    _add_paths(p)
    p.add_argument("source")
    p.add_argument("--start", type=int)
    p.add_argument("--end", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("sources", help="list sources and their index status")
    _add_paths(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("serve", help="run the web app")
    _add_paths(p)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")
    p.set_defaults(func=cmd_serve)

    from qa.evaluation import add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qa`` console script."""
    args = build_parser().parse_args(argv)
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
