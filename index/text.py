"""Sentence splitting with character offsets, and the tokenizer shared by every lexical step."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

# Words that end with a period without ending a sentence. Lower-case, no trailing dot.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs etc al fig figs eq eqs no nos vol pp ed eds inc ltd co corp
    dept univ gen gov sen rep rev hon jan feb mar apr jun jul aug sep sept oct nov dec approx ca cf
    e.g i.e u.s u.k u.n a.m p.m""".split()
)
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"(\S+)$")
_BEFORE_NAME = frozenset("in of from with within into to for by on at using than and or".split())
_LONGEST_QUOTE = 600
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
_LOWER_NEXT = re.compile(r"\s+[a-z][a-z'’-]*(?=[\s,;:!?]|$)")


def is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial, not a sentence."""
    match = _WORD_BEFORE.search(text, max(0, dot - 80), dot)
    if not match:
        return False
    word = match.group(1).lstrip("(\"'“‘[").lower()
    if word in _ABBREVIATIONS:
        return True
    # Initials ("J." in "John J. Smith", "U.S."): one letter, possibly dotted sequences...
    if not re.fullmatch(r"(?:[a-z]\.)*[a-z]", word):
        return False
    # ...but not a one-letter name after a preposition when a sentence plainly starts next:
    # "read directly from R. For Excel files" ends; "a letter to J. Smith" does not.
    if len(word) != 1:
        return True
    before = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start() - 1)
    after = _NEXT_WORD.match(text, dot + 1)
    nxt = after.group(1) if after else ""
    starts = nxt[:1].isupper() and nxt.lower() in STOPWORDS
    return not (before and before.group(1).lower() in _BEFORE_NAME and starts)


def _inside_quote(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` opens a quotation it does not close.

    An escaped quote (a backslash before it, in code) opens nothing, and a quotation still
    open after a few hundred characters was a stray mark, not a quotation.
    """
    if end - start > _LONGEST_QUOTE:
        return False
    piece = text[start:end].replace('\\"', "")
    return piece.count("“") > piece.count("”") or piece.count('"') % 2 == 1


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences of the prose ``text[start:end]`` as absolute ``(start, end)`` offsets.

    The span is one paragraph: a line break inside it is whitespace (a wrapped line), not a
    sentence end. Spans exclude surrounding whitespace.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _END.finditer(text, start, end):
        dot = m.start()
        if text[dot] == "." and is_abbreviation(text, dot):
            continue
        if _LOWER_NEXT.match(text, m.end(), end):
            # 'The "excluded." prefix', "wait... and then": a plain lower-case word goes on the
            # sentence; an identifier ("read.fwf reads", "fts5 is") may well start one.
            continue
        if _inside_quote(text, pos, m.end()):
            continue  # “We are disappointed. We will appeal,” he said. is one sentence
        _emit(text, pos, m.end(), spans)
        pos = m.end()
    _emit(text, pos, end, spans)
    return spans


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """``(a, b)`` narrowed to exclude whitespace at either end of ``text[a:b]``."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _emit(text: str, a: int, b: int, out: list[tuple[int, int]]) -> None:
    a, b = trim(text, a, b)
    if b > a:
        out.append((a, b))


STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours yourself yourselves also may
    might must shall s t don doesn didn isn wasn weren won wouldn shouldn couldn whose
    tell say said says according""".split()
)
_TOKEN = re.compile(r"[\w][\w'’\-]*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Lower-cased, stemmed word tokens; stop words dropped unless asked to keep them."""
    words = []
    for raw in _TOKEN.findall(text.lower()):
        # Most words hold no hyphen or apostrophe: skip the split (a hot path when answering).
        parts = _WORD_JOINERS.split(raw) if _WORD_JOINERS.search(raw) else (raw,)
        for word in parts:
            if word and (keep_stopwords or word not in STOPWORDS):
                words.append(word)
    return _stemmer().stemWords(words)  # type: ignore[no-any-return]


_WORD_JOINERS = re.compile(r"[-'’]")
