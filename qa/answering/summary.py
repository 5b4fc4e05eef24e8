"""Summaries for broad questions ("Summarize the handbook", "What is this document about?").

Which document is meant, and which of its sentences say most of what it says.

The summary is extractive like every answer: the sentences closest to the document's own
centre (the mean of its stored sentence vectors), at most one per section so a long manual
gives a point per part, shown in reading order and each cited.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from core.types import Chunk, ScoredChunk
from index.structure import chunk_units
from index.text import tokenize
from qa.answering.conversation import Reading
from qa.answering.evidence import GENERIC

# Words of a summary request, not of the document asked about.
_REQUEST = frozenset(
    tokenize(
        "summarize summarise summary sum up overview outline gist give me short brief quick main "
        "key points ideas takeaways topics findings about document article page manual file text "
        "source report paper book this these that what does say cover discuss describe tldr",
        keep_stopwords=True,
    )
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


@dataclass
class Point:
    """One sentence of a summary: where it is and how central it is."""

    hit: ScoredChunk
    start: int
    end: int
    text: str
    section: str
    centrality: float


def pick_source(question: str, reading: Reading, titles: dict[str, str], ranked: list[str]) -> str:
    """The source a broad question is about.

    One the question names (by title or file name) first; then the one the conversation was
    quoting; then the only one; then the one retrieval ranks first for the question.
    """
    asked = frozenset(tokenize(question)) - _REQUEST - GENERIC
    if asked:
        overlap = {
            s: len(asked & frozenset(tokenize(f"{t} {re.sub(r'[_.-]+', ' ', s)}")))
            for s, t in titles.items()
        }
        best = max(overlap, key=lambda s: overlap[s], default="")
        if best and overlap[best]:
            return best
    near = [c.source for c in reading.near if c.source in titles]
    if near:
        return near[-1]
    if len(titles) == 1:
        return next(iter(titles))
    return next((s for s in ranked if s in titles), next(iter(titles), ""))


def summary_points(chunks: list[Chunk], vectors: dict[str, np.ndarray], cap: int) -> list[Point]:
    """The most central sentence of each section, the best few of them, in reading order.

    A few points for an article, more (up to ``cap``) for a long manual.

    Only sentences with a stored vector count (every chunk indexed by this version has them):
    a summary never embeds a whole document at question time.
    """
    points: list[Point] = []
    rows: list[np.ndarray] = []
    for chunk in chunks:
        stored = vectors.get(chunk.id)
        units = chunk_units(chunk)
        if stored is None or len(stored) != len(units):
            continue
        hit = ScoredChunk(chunk=chunk, score=0.0, rank=0)
        for n, unit in enumerate(units):
            text = chunk.text[unit.start : unit.end]
            if unit.kind not in ("text", "item") or len(text.split()) < 6:
                continue
            if not _SENTENCE_END.search(text) or not stored[n].any():
                continue
            section = chunk.section_of(n).split(" › ")[0]
            start = chunk.start + unit.start
            points.append(Point(hit, start, start + len(text), text, section, 0.0))
            rows.append(stored[n])
    if not points:
        return []
    matrix = np.stack(rows)
    matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
    centre = matrix.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    for point, score in zip(points, matrix @ centre, strict=True):
        point.centrality = float(score)
    limit = max(3, min(cap, round(math.sqrt(len(points)) / 2)))
    # A point per section; a document with fewer sections than points is cut into equal parts.
    by_section = len({p.section for p in points}) >= limit
    best: dict[object, Point] = {}
    for i, point in enumerate(points):
        key = point.section if by_section else i * limit // len(points)
        if key not in best or point.centrality > best[key].centrality:
            best[key] = point
    chosen = sorted(best.values(), key=lambda p: -p.centrality)[:limit]
    return sorted(chosen, key=lambda p: p.start)
