"""Score multi-turn conversations (the ``conversations_dev.jsonl`` format).

Each line is ``{"id", "corpus", "turns": [...]}``; a turn is ``{"q", "expect_any",
"forbid_any"?, "no_repeat"?}`` or ``{"q", "kind": "refuse"}``. Every turn is asked through
``QAService.ask`` with the earlier turns as history (their questions and the citations their
answers gave), as the app and ``qa ask --json -`` pass it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errors import ConfigError
from core.progress import ProgressCallback
from core.settings import Settings
from core.types import Answer, Turn
from evals.answers import flat, ratio, read_jsonl, slug
from qa.service import QAService
from qa.verify import count_exact


class TurnResult(BaseModel):
    """One turn of one conversation, scored."""

    conversation: str
    turn: int = Field(description="1-based position in the conversation.")
    q: str
    kind: str = Field(description="'answer' or 'refuse'.")
    right: bool
    why: str = ""
    interpreted_as: str | None = None
    answer: str


class ConversationsResult(BaseModel):
    """The contract of ``qa eval conversations --json``."""

    conversations: int
    turns: int
    turn_accuracy: float | None
    follow_ups: int = Field(description="Turns after the first of their conversation.")
    follow_up_accuracy: float | None
    first_turn_accuracy: float | None
    refusal_accuracy: float | None
    exact_quote_rate: float | None
    results: list[TurnResult] = Field(default_factory=list)


def score_turn(turn: dict[str, Any], answer: Answer, earlier: set[str]) -> tuple[bool, str]:
    """Whether ``answer`` is right for ``turn``, and why not.

    ``earlier`` holds the quotes of the conversation's earlier turns (for ``no_repeat``).
    """
    if turn.get("kind") == "refuse":
        return answer.refused, "" if answer.refused else "answered a question it should refuse"
    if answer.refused:
        return False, "refused an answerable question"
    quotes = [flat(c.quote) for c in answer.citations]
    joined = " ".join(quotes)
    expect = turn.get("expect_any") or []
    if expect and not any(flat(e) in joined for e in expect):
        return False, f"no quote contains any of {expect}"
    leaked = [f for f in turn.get("forbid_any") or [] if flat(f) in joined]
    if leaked:
        return False, f"a quote contains {leaked[0]!r} from an earlier topic"
    if turn.get("no_repeat") and any(q in earlier for q in quotes):
        return False, "repeats a quote of an earlier turn"
    return True, ""


def evaluate_conversations(
    conversations: list[dict[str, Any]],
    ask: Callable[[str, str, list[Turn]], Answer],
    exact: Callable[[str, Answer], tuple[int, int]] | None = None,
) -> ConversationsResult:
    """Ask every turn of every conversation through ``ask(corpus, question, history)``."""
    results: list[TurnResult] = []
    exact_quotes = total_quotes = 0
    for conv in conversations:
        corpus = str(conv.get("corpus", ""))
        history: list[Turn] = []
        earlier: set[str] = set()
        for n, turn in enumerate(conv.get("turns", []), 1):
            answer = ask(corpus, turn["q"], list(history))
            right, why = score_turn(turn, answer, earlier)
            if exact is not None:
                e, t = exact(corpus, answer)
                exact_quotes, total_quotes = exact_quotes + e, total_quotes + t
            results.append(
                TurnResult(
                    conversation=str(conv.get("id", "")),
                    turn=n,
                    q=turn["q"],
                    kind="refuse" if turn.get("kind") == "refuse" else "answer",
                    right=right,
                    why=why,
                    interpreted_as=answer.interpreted_as,
                    answer=answer.answer,
                )
            )
            earlier |= {flat(c.quote) for c in answer.citations}
            history.append(Turn.of(answer.model_copy(update={"question": turn["q"]})))
    follow = [r for r in results if r.turn > 1]
    first = [r for r in results if r.turn == 1]
    refuse = [r for r in results if r.kind == "refuse"]
    return ConversationsResult(
        conversations=len(conversations),
        turns=len(results),
        turn_accuracy=ratio(sum(r.right for r in results), len(results)),
        follow_ups=len(follow),
        follow_up_accuracy=ratio(sum(r.right for r in follow), len(follow)),
        first_turn_accuracy=ratio(sum(r.right for r in first), len(first)),
        refusal_accuracy=ratio(sum(r.right for r in refuse), len(refuse)),
        exact_quote_rate=ratio(exact_quotes, total_quotes),
        results=results,
    )


def parse_corpora(specs: list[str]) -> dict[str, Path]:
    """``NAME=DIR`` pairs into a mapping; a clear error for a malformed pair or a missing folder."""
    corpora: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise ConfigError(f"--corpus {spec!r}: write it as NAME=DIR (e.g. sotu=../sotu)")
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(f"--corpus {name}: folder {path} does not exist")
        corpora[name] = path
    return corpora


def run_conversations(
    conversations_file: Path,
    corpora: Mapping[str, Path],
    store_root: Path | None = None,
    progress: ProgressCallback | None = None,
    services: Mapping[str, QAService] | None = None,
) -> ConversationsResult:
    """Index each corpus the conversations name (incrementally), then ask and score every turn.

    Args:
        conversations_file: The conversations, one JSON object a line.
        corpora: Corpus name → sources folder.
        store_root: Where each corpus's index goes (default ``<QA_STORE>/eval``).
        progress: Indexing progress.
        services: Ready services by corpus name, in place of building them (tests).

    """
    conversations = read_jsonl(conversations_file)
    named = {str(c.get("corpus", "")) for c in conversations}
    missing = sorted(named - set(corpora) - set(services or {}))
    if missing:
        raise ConfigError(
            f"The conversations use corpora {', '.join(missing)}; pass each as --corpus NAME=DIR."
        )
    ready: dict[str, QAService] = dict(services or {})
    root = store_root or Path(Settings().store) / "eval"
    for name in sorted(named - set(ready)):
        folder = corpora[name]
        settings = Settings(sources=folder, store=root / f"conv-{slug(folder)}", chroma_url=None)
        ready[name] = QAService(settings)
    for name in sorted(named):
        ready[name].index(progress=progress)
    return evaluate_conversations(
        conversations,
        ask=lambda corpus, q, history: ready[corpus].ask(q, history),
        exact=lambda corpus, answer: count_exact(answer, ready[corpus].reader),
    )
