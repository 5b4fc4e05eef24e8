"""Safe rendering helpers for the Streamlit page: all source and model text is escaped.

Only the tags built here (``mark``, ``sup``, ``div``, ``span``) reach the browser; anything that
came from a document or a model, ``<script>`` or ``<img onerror>`` included, is shown as text.
Pure functions of typed objects, with no Streamlit import, so they are tested on their own.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from core.settings import Settings
from core.types import REMOVED, Answer, Citation, IndexReport, SourceRow
from core.types import Turn as HistoryTurn


@dataclass
class Turn:
    """One message of a conversation: the user's question, or the answer (or the error) to it."""

    role: Literal["user", "assistant"]
    content: str
    answer: Answer | None = None
    error: str | None = None


def conversation_history(messages: Iterable[Turn]) -> list[HistoryTurn]:
    """The earlier turns as the answerer reads them: each question with its answer's citations."""
    history: list[HistoryTurn] = []
    for msg in messages:
        if msg.role == "user":
            history.append(HistoryTurn(question=msg.content))
        elif history and msg.answer is not None:
            history[-1] = HistoryTurn.of(
                msg.answer.model_copy(update={"question": history[-1].question})
            )
    return history


def interpretation_line(answer: Answer) -> str | None:
    """How a follow-up was read, for under the question (None when read as it stands)."""
    if not answer.interpreted_as:
        return None
    return f"Read as: {answer.interpreted_as}"


def passage_html(text: str, start: int, end: int, context: int = 400) -> str:
    """Return the quote at ``text[start:end]`` highlighted in ``<mark>``, with escaped context."""
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


def conversation_markdown(turns: Iterable[Turn]) -> str:
    """Return a conversation with its citations as Markdown; quotes become block quotes."""
    lines = ["# Conversation", ""]
    for turn in turns:
        if turn.role == "user":
            lines += [f"**Q:** {_md_escape(turn.content)}", ""]
            continue
        line = interpretation_line(turn.answer) if turn.answer else None
        if line:
            lines += [f"*{_md_escape(line)}*", ""]
        text = turn.answer.answer if turn.answer else turn.error or turn.content
        lines += [f"**A:** {_md_escape(text)}", ""]
        for cit in turn.answer.citations if turn.answer else []:
            page = f", page {cit.page}" if cit.page else ""
            span = f"characters {cit.start}–{cit.end}{page}"
            section = f" › {_md_escape(cit.section)}" if cit.section else ""
            lines.append(f"[{cit.n}] `{cit.source}`{section} {span}")
            lines.append(f"> {_md_escape(cit.quote)}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_escape(text: str) -> str:
    # Neutralise Markdown and HTML so an exported quote cannot turn into a link, image or tag.
    return re.sub(r"([\\`*_{}\[\]()#+\-!<>|])", r"\\\1", text.replace("\n", " "))


# --- helpers for the Streamlit page (pure functions, no Streamlit import) -------------------

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!<>|~$:])")
# No \b: GFM links "_www.x.org" and "1https://x" too (an underscore or digit is no boundary).
_AUTOLINK = re.compile(r"(?i)www(?=\.)|@|(?:https?|ftp|mailto|file)(?=\\:)")


def md_text(text: object) -> str:
    """``text`` escaped for Streamlit Markdown (labels, captions, alerts): shown literally.

    Markdown and KaTeX syntax is backslash-escaped, ``&`` becomes ``&amp;`` (so ``&lt;`` stays
    as typed), and the places GitHub-flavoured Markdown would turn into a link (``www.``,
    ``scheme://``, ``user@host``) get a zero-width space: they read the same and link nowhere.
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text).replace("&", "&amp;"))
    return _AUTOLINK.sub("\\g<0>\u200b", escaped)


def confidence_line(answer: Answer) -> str:
    """How sure the answerer is, in words a reader can use (``answer.confidence`` is set)."""
    share = f"{answer.confidence or 0.0:.0%}"
    if answer.refused:
        return f"The closest passage scored {share} as an answer: too low to quote it as one."
    return f"Confidence {share} that the first quote answers the question."


def element_id(*parts: object) -> str:
    """Return a DOM id made only of ``[A-Za-z0-9_-]`` (safe inside the constant scroll script)."""
    return "qa-" + _SAFE_ID.sub("-", "-".join(str(p) for p in parts))


def source_view_html(text: str, start: int, end: int, dom_id: str, height: int = 360) -> str:
    """Return the whole source, escaped, in a scrollable box; the quote is ``<mark id>``."""
    dom_id = _SAFE_ID.sub("-", dom_id)
    return (
        f'<div class="qa-source" style="max-height: {int(height)}px; overflow-y: auto; '
        "white-space: pre-wrap; line-height: 1.5; border: 1px solid rgba(128,128,128,.35); "
        'border-radius: .5rem; padding: .5rem .75rem">'
        f'{html.escape(text[:start])}<mark id="{dom_id}">{html.escape(text[start:end])}</mark>'
        f"{html.escape(text[end:])}</div>"
    )


def scroll_script(dom_id: str) -> str:
    """Return a constant script (no document text) scrolling ``#dom_id`` into view.

    Streamlit passes scripts through DOMPurify, which drops a script whose text has ``<`` before
    a word character, so the script avoids ``<`` altogether.
    """
    dom_id = _SAFE_ID.sub("-", dom_id)
    return (
        "<script>(function(){let n=0;function go(){"
        f'const m=document.getElementById("{dom_id}");'
        "if(!m){n+=1;if(n>=50){return;}setTimeout(go,100);return;}"
        "const box=m.closest('.qa-source');if(!box){return;}"
        "box.scrollTop+=m.getBoundingClientRect().top-box.getBoundingClientRect().top"
        "-box.clientHeight/3;}go();})();"
        "</script>"
    )


def format_size(size: object) -> str:
    """Bytes as ``812 B``, ``3.2 kB``, ``1.4 MB``; blank when unknown."""
    if not isinstance(size, int | float):
        return ""
    if size < 1000:
        return f"{int(size)} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def format_time(stamp: object) -> str:
    """Format a Unix time as ``YYYY-MM-DD HH:MM:SS`` (local time); blank when unknown."""
    if not isinstance(stamp, int | float):
        return ""
    return _dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def source_table(rows: Iterable[SourceRow]) -> list[dict[str, Any]]:
    """Rows of ``QAService.list_sources`` as the sources view shows them."""
    # What a reader scans first (title, status, problem) comes first, the file name last.
    return [
        {
            "title": r.title or r.source,
            "status": _STATUS.get(r.status, r.status),
            "problem": r.error or "",
            "type": r.kind or "",
            "size": format_size(r.size),
            "pages": r.pages or None,
            "passages": r.chunks,
            "indexed at": format_time(r.indexed_at),
            "file": r.source,
        }
        for r in rows
    ]


_STATUS = {
    "ok": "ready",
    "failed": "could not be read",
    "not indexed": "waiting to be indexed",
    REMOVED: "removed",
}


def files_summary(report: IndexReport) -> str:
    """What an index run did to files: ``2 added, 0 changed, ...``."""
    f = report.files
    return (
        f"{f.added} added, {f.changed} changed, {f.removed} removed, "
        f"{f.unchanged} unchanged, {f.failed} failed"
    )


def index_summary(report: IndexReport) -> str:
    """One line saying what an index run did."""
    c = report.chunks
    return (
        f"Indexed in {report.seconds:.1f}s: {files_summary(report)} · "
        f"{c.embedded} new passages, {c.reused} reused, {c.deleted} dropped."
    )


def disagreement_groups(answer: Answer) -> list[tuple[str, list[Citation]]]:
    """Each disagreement's topic with the citations of its accounts (unknown numbers dropped)."""
    by_n = {c.n: c for c in answer.citations}
    groups = []
    for item in answer.disagreement:
        cits = [by_n[n] for n in item.accounts if n in by_n]
        if cits:
            groups.append((item.topic, cits))
    return groups


def settings_summary(settings: Settings) -> list[tuple[str, str]]:
    """Return the settings a user should see, as (label, value) pairs."""
    answerer = {
        "extractive": "quotes picked from the sources (no language model)",
        "llm": "a language model, held to verified quotes",
    }[settings.answerer]
    search = {"hybrid": "meaning and keywords", "dense": "meaning", "bm25": "keywords"}
    pairs = [
        ("Answers", answerer),
        ("Search by", search[settings.retriever]),
        ("Passages read per question", settings.top_k),
        ("Documents folder", settings.sources),
        ("Index folder", settings.chroma_url or settings.store),
        ("Largest file accepted", f"{settings.max_file_mb:g} MB"),
    ]
    if settings.answerer == "llm":
        pairs.insert(1, ("Model", f"{settings.llm.provider} {settings.llm.model or ''}".strip()))
    return [(k, str(v)) for k, v in pairs]
