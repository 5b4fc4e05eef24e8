"""Safe rendering helpers for the front ends: all source and model text is escaped.

Only the tags built here (``mark``, ``sup``, ``div``, ``span``) reach the browser; anything that
came from a document or a model, ``<script>`` or ``<img onerror>`` included, is shown as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

_MARKER = re.compile(r"\[(\d+)\]")


def passage_html(text: str, start: int, end: int, context: int = 400) -> str:
    """The quote at ``text[start:end]`` highlighted in ``<mark>``, with escaped context."""
    a = max(0, start - context)
    b = min(len(text), end + context)
    # Widen to whole words so the context does not start mid-word.
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    while b < len(text) and not text[b].isspace():
        b += 1
    before = ("…" if a > 0 else "") + text[a:start]
    after = text[end:b] + ("…" if b < len(text) else "")
    return (
        '<div class="qa-passage" style="white-space: pre-wrap; line-height: 1.5">'
        f"{html.escape(before)}<mark>{html.escape(text[start:end])}</mark>{html.escape(after)}"
        "</div>"
    )


def answer_html(answer: str) -> str:
    """The answer text escaped, with citation markers ``[n]`` set as superscripts."""
    escaped = html.escape(answer)
    return '<div class="qa-answer">' + _MARKER.sub(r"<sup>[\1]</sup>", escaped) + "</div>"


def conversation_markdown(messages: Iterable[dict[str, Any]]) -> str:
    """A conversation with its citations as Markdown (for export); quotes become block quotes."""
    lines = ["# Conversation", ""]
    for msg in messages:
        if msg["role"] == "user":
            lines += [f"**Q:** {_md_escape(msg['content'])}", ""]
            continue
        answer = msg.get("answer") or {}
        lines += [f"**A:** {_md_escape(answer.get('answer', msg.get('content', '')))}", ""]
        for cit in answer.get("citations", []):
            page = f", page {cit['page']}" if cit.get("page") else ""
            lines.append(f"[{cit['n']}] `{cit['source']}` characters {cit['start']}–{cit['end']}{page}")
            lines.append(f"> {_md_escape(cit['quote'])}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_escape(text: str) -> str:
    # Neutralise Markdown and HTML so an exported quote cannot turn into a link, image or tag.
    return re.sub(r"([\\`*_{}\[\]()#+\-!<>|])", r"\\\1", text.replace("\n", " "))
