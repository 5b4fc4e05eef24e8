"""Is this quote exact? The one place that normalises, locates and checks quotes.

* :func:`is_exact` — a citation's quote is ``text[start:end]`` of the given source text.
* :func:`verify_citations` — every citation re-checked against its source as it is now; the
  answerers call it before an answer leaves the library.
* :func:`count_exact` — how many quotes of an answer are exact (the evaluations).
* :func:`locate` — where a quotation copied by a language model sits in a passage, up to
  whitespace runs, curly versus straight quotes and the case of the first letter; quotations of
  sentences that tell the reader what to do (injected instructions) are refused.
"""

from __future__ import annotations

import re
from typing import Protocol

from core.errors import SourceError
from core.types import Answer, Chunk, Citation, ScoredChunk, SourceText
from index.structure import chunk_units

_WS = re.compile(r"\s+")
_TRANSLATE = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
    r"(?:previous|prior|above|earlier|preceding|other|system)?\s*"
    r"(?:instructions?|prompts?|rules|directions|guidelines)\b|\bsystem\s+prompt\b",
    re.IGNORECASE,
)


class TextSource(Protocol):
    """Where the current text of a source comes from (``qa.sources.SourceReader`` fits)."""

    def read(self, source: str) -> SourceText: ...  # noqa: D102


def is_exact(text: str, citation: Citation) -> bool:
    """True when ``citation.quote`` is exactly ``text[start:end]``."""
    return text[citation.start : citation.end] == citation.quote


def verify_citations(
    citations: list[Citation], reader: TextSource
) -> tuple[list[Citation], list[str]]:
    """Keep the citations whose quote is exactly ``text[start:end]`` of the source now.

    Returns:
        The verified citations (``verified=True``) and a warning for each one dropped.

    """
    kept: list[Citation] = []
    warnings: list[str] = []
    texts: dict[str, str] = {}  # each source read once per answer (a read hashes the file)
    for cit in citations:
        try:
            if cit.source not in texts:
                texts[cit.source] = reader.read(cit.source).text
            text = texts[cit.source]
        except SourceError as exc:
            warnings.append(f"Dropped a quote of {cit.source}: {exc.reason}.")
            continue
        if is_exact(text, cit):
            kept.append(cit.model_copy(update={"verified": True}))
        else:
            warnings.append(
                f"Dropped a quote of {cit.source}: the file changed since it was indexed; "
                "re-index to refresh it."
            )
    return kept, warnings


def count_exact(answer: Answer, reader: TextSource) -> tuple[int, int]:
    """``(exact, total)`` quotes of an answer (citations and related), re-read from the sources.

    A source that cannot be read counts as not exact.
    """
    exact = total = 0
    for cit in answer.citations + answer.related:
        total += 1
        try:
            text = reader.read(cit.source).text
        except SourceError:
            continue
        exact += is_exact(text, cit)
    return exact, total


def normalise(text: str) -> str:
    """Whitespace runs as one space, curly quotes and apostrophes straight, ends stripped."""
    return _WS.sub(" ", text.translate(_TRANSLATE)).strip()


def locate(quote: str, hit: ScoredChunk) -> tuple[Citation | None, str]:
    """Find the exact span of ``hit``'s chunk that ``quote`` copies, as an unverified Citation.

    Returns:
        The citation at the span's source offsets, or ``(None, why)`` when the quote is not
        in the passage or copies a sentence that gives instructions.

    """
    chunk = hit.chunk
    norm_text, index = _normalise_with_map(chunk.text)
    q = normalise(quote)
    if not q.strip():
        return None, "quotes nothing, in passage"
    pos = norm_text.find(q)
    if pos < 0 and q[:1].isalpha():
        pos = norm_text.find(q[0].swapcase() + q[1:])
    if pos < 0:
        return None, "is not in passage"
    start, end = index[pos], index[pos + len(q) - 1] + 1
    for unit in chunk_units(chunk):
        if (
            unit.start < end
            and start < unit.end
            and _INSTRUCTION.search(chunk.text[unit.start : unit.end])
        ):
            return None, "copies text that gives instructions, in passage"
    return (
        Citation(
            n=0,
            source=chunk.source,
            quote=chunk.text[start:end],
            start=chunk.start + start,
            end=chunk.start + end,
            score=round(hit.score, 4),
            page=chunk.page,
            section=_section_at(chunk, start) or None,
            chunk_id=chunk.id,
        ),
        "",
    )


def _normalise_with_map(text: str) -> tuple[str, list[int]]:
    """``text`` normalised like quotes are, with the original index of every character."""
    out: list[str] = []
    index: list[int] = []
    prev_space = False
    for i, ch in enumerate(text.translate(_TRANSLATE)):
        if ch.isspace():
            if prev_space:
                continue
            ch, prev_space = " ", True
        else:
            prev_space = False
        out.append(ch)
        index.append(i)
    return "".join(out), index


def _section_at(chunk: Chunk, offset: int) -> str:
    """The heading path in effect at chunk-relative ``offset``."""
    units = chunk_units(chunk)
    index = next((i for i, u in enumerate(units) if u.end > offset), len(units) - 1)
    return chunk.section_of(index)
