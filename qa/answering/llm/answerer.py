"""The LLM answerer: a chat model drafts the answer, and only verified quotes survive.

The model sees the retrieved passages as numbered data (``prompt``) and is asked for sentences
that each quote a passage verbatim, in double quotes, followed by that passage's marker ``[n]``.
Its draft is checked against the passages (``draft``). When nothing survives, or the model cannot
be reached, the extractive answer is returned instead, with the reason in ``warnings``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from core.types import Answer, ScoredChunk, Turn
from qa.answering.conversation import read_turn
from qa.answering.extractive import ExtractiveAnswerer
from qa.answering.llm.draft import CheckResult, check_draft, is_no_answer, strip_thinking
from qa.answering.llm.prompt import SYSTEM_PROMPT, format_prompt


class LLMAnswerer:
    """Answers with a chat model, keeping only sentences whose quotes verify; see the module."""

    name = "llm"

    def __init__(
        self, model: BaseChatModel, fallback: ExtractiveAnswerer, *, k: int | None = None
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.engine = fallback.engine
        self.reader = fallback.reader
        self.k = k or fallback.k
        self.mode = fallback.mode

    # public ----------------------------------------------------------------------------------
    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        """Answer ``question``; ``history`` holds earlier questions of the conversation."""
        result: Answer | None = None
        for part in self._run(question, history, streaming=False):
            if isinstance(part, Answer):
                result = part
        assert result is not None
        return result

    def stream(self, question: str, history: list[Turn] | None = None) -> Iterator[str | Answer]:
        """Yield the model's draft as text deltas, then the verified ``Answer`` last.

        The draft is unverified: show it as provisional and replace it with the ``Answer``.
        """
        yield from self._run(question, history, streaming=True)

    def retrieve(self, question: str, history: list[Turn] | None = None) -> list[ScoredChunk]:
        """Retrieve the passages the model is given, in marker order (``[1]`` first)."""
        query = read_turn(question, history or []).query
        return self.engine.search(query, self.k, self.mode)

    def messages(
        self, question: str, history: list[Turn] | None, hits: list[ScoredChunk]
    ) -> list[BaseMessage]:
        """Build the chat messages: rules as the system message, passages and question as data."""
        return [SystemMessage(SYSTEM_PROMPT), HumanMessage(format_prompt(question, history, hits))]

    def verify(self, question: str, draft: str, hits: list[ScoredChunk]) -> Answer | None:
        """Return the answer made of ``draft``'s verified sentences, or None if none survive."""
        return self._build(question, check_draft(draft, hits, self.reader))

    # internals -------------------------------------------------------------------------------
    def _run(
        self, question: str, history: list[Turn] | None, *, streaming: bool
    ) -> Iterator[str | Answer]:
        question = question.strip()
        hits = self.retrieve(question, history)
        if not hits:
            yield self._fallback(question, history, "No passages were retrieved for the question.")
            return
        messages = self.messages(question, history, hits)
        parts: list[str] = []
        try:
            if streaming:
                for chunk in self.model.stream(messages):
                    delta = _text(chunk)
                    if delta:
                        parts.append(delta)
                        yield delta
            else:
                parts.append(_text(self.model.invoke(messages)))
        except Exception as exc:  # any client, network or server failure: fall back, no traceback
            yield self._fallback(
                question, history, f"The language model could not answer ({_describe(exc)})."
            )
            return
        draft = strip_thinking("".join(parts)).strip()
        if not draft:
            yield self._fallback(question, history, "The language model returned an empty answer.")
            return
        checked = check_draft(draft, hits, self.reader)
        verified = self._build(question, checked)
        if verified is not None:
            yield verified
            return
        if is_no_answer(draft):
            reason = "The language model found no answer in the passages."
        else:
            reason = (
                "None of the language model's sentences carried a quote that could be verified "
                "against the passages it cited."
            )
        fallback = self._fallback(question, history, reason)
        fallback.unverified = [r.sentence for r in checked.rejected]
        yield fallback

    def _build(self, question: str, result: CheckResult) -> Answer | None:
        if not result.sentences:
            return None
        warnings = list(result.warnings)
        if result.rejected:
            n = len(result.rejected)
            warnings.append(
                f"Dropped {n} sentence{'s' if n > 1 else ''} of the language model's answer "
                "whose quotes could not be verified against the passages."
            )
        return Answer(
            question=question,
            answer=" ".join(result.sentences),
            refused=False,
            citations=result.citations,
            warnings=warnings,
            unverified=[r.sentence for r in result.rejected],
            answerer=self.name,
        )

    def _fallback(self, question: str, history: list[Turn] | None, reason: str) -> Answer:
        answer = self.fallback.answer(question, history)
        note = f"{reason} Showing the extractive answer instead."
        return answer.model_copy(
            update={"warnings": [note, *answer.warnings], "answerer": self.fallback.name}
        )


def _text(message: object) -> str:
    """Get the text of a chat message or chunk, whatever shape its content has."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")
        )
    return ""


def _describe(exc: BaseException) -> str:
    """Describe a model failure in one line, without tracebacks or secrets."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"(sk-|key[=:]\s*)\S+", r"\1***", text, flags=re.IGNORECASE)
    lowered = f"{name} {text}".lower()
    if "timeout" in lowered or "timed out" in lowered:
        kind = "the request timed out"
    elif "connect" in lowered or "refused" in lowered:
        kind = "the server could not be reached"
    else:
        kind = "the server returned an error"
    detail = f"{name}: {text}" if text else name
    return f"{kind}; {detail[:200]}"
