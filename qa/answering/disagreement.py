"""Sources that report the same point differently: shown side by side, never merged."""

from __future__ import annotations

import re

from core.types import Citation, Disagreement
from index.text import tokenize

# Verbs that state how a dispute ended; two sources using different ones for the same event give
# different accounts (e.g. "denied a preliminary injunction" vs "dismissed efforts").
_OUTCOMES = frozenset(
    tokenize(
        "denied dismissed granted rejected approved upheld overturned reversed affirmed vacated "
        "refused accepted",
        keep_stopwords=True,
    )
)
_FIGURE = re.compile(r"\b\d[\d,.]*\b")


def find_disagreements(citations: list[Citation]) -> list[Disagreement]:
    """Pairs of quotes from different sources that report the same point differently.

    Two signals, both cheap and explainable: the quotes share a named subject but state a
    different outcome verb, or they share a subject but give different figures.
    """
    found: list[Disagreement] = []
    for i, a in enumerate(citations):
        for b in citations[i + 1 :]:
            if a.source == b.source:
                continue
            ta, tb = set(tokenize(a.quote)), set(tokenize(b.quote))
            shared = (ta & tb) - _OUTCOMES
            if len(shared) < 2:
                continue
            oa, ob = ta & _OUTCOMES, tb & _OUTCOMES
            if oa and ob and not oa & ob:
                found.append(Disagreement(topic="what was decided", accounts=[a.n, b.n]))
                continue
            fa, fb = set(_FIGURE.findall(a.quote)), set(_FIGURE.findall(b.quote))
            if fa and fb and not fa & fb:
                found.append(Disagreement(topic="the figures", accounts=[a.n, b.n]))
    return found
