"""Check a language model's draft against the passages it was given: only verified quotes survive.

The draft is checked sentence by sentence:

* every quoted span (``"..."`` or ``“...”``) must occur in each passage its marker names, up to
  whitespace runs, curly versus straight quotes and apostrophes, and the case of the first letter
  (``qa.verify.locate``);
* a sentence that quotes nothing, has unbalanced quotes, cites no passage, cites a passage that
  does not contain the quote, or quotes text that tells the model what to do, is dropped and listed
  in ``Answer.unverified``;
* each surviving quote becomes a ``Citation`` at the exact offsets of its source, checked again
  against the current file by ``qa.verify.verify_citations``; markers are renumbered to them.

HTML tags (``<script>``/``<style>`` blocks whole) and Markdown links and images are removed from
the draft before it is checked (a quote that relied on them then fails), and URLs and stray angle
brackets are removed from the prose between quotes. A quotation must not span a line break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.types import Citation, ScoredChunk
from index.text import is_abbreviation
from qa.answering.base import REFUSAL
from qa.verify import TextSource, locate, normalise, verify_citations

_QUOTE_CHARS = '"“”'
_TERMINAL = ".!?…"
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
_MARKER_GROUP = re.compile(rf"{_MARKER.pattern}(?:\s*{_MARKER.pattern})*")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*•+]\s+|\d{1,2}[.)]\s+|#{1,6}\s+|>\s*)")
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_HTML_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z!][^>\n]*>")
_URL = re.compile(r"\b(?:https?|ftp|file|javascript|data):\S*|\bwww\.\S+", re.IGNORECASE)
_WS = re.compile(r"\s+")


@dataclass
class Rejected:
    """A sentence of the draft that was dropped, and why."""

    sentence: str
    reason: str


@dataclass
class CheckResult:
    """The verified sentences (markers renumbered), their citations and the dropped sentences."""

    sentences: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Token:
    kind: str  # "prose", "quote" or "marker"
    text: str
    numbers: tuple[int, ...] = ()
    open_char: str = ""
    close_char: str = ""


@dataclass
class _Sentence:
    raw: str
    tokens: list[_Token]
    unbalanced: bool


def check_draft(draft: str, hits: list[ScoredChunk], reader: TextSource) -> CheckResult:
    """Verify every sentence of ``draft`` against the passages ``hits`` (``[1]`` is hits[0])."""
    result = CheckResult()
    pending: list[tuple[_Sentence, list[list[Citation]]]] = []
    for sent in split_draft(draft):
        if not sent.raw.strip():
            continue
        quotes, reason = _check_sentence(sent, hits)
        if reason:
            result.rejected.append(Rejected(_display(sent.raw), reason))
        else:
            pending.append((sent, quotes))
    # Re-check every distinct quote against the source as it is on disk now.
    unique: dict[tuple[str, int, int], Citation] = {}
    for _, groups in pending:
        for group in groups:
            for cit in group:
                unique.setdefault((cit.source, cit.start, cit.end), cit)
    verified, warnings = verify_citations(list(unique.values()), reader)
    result.warnings.extend(warnings)
    ok = {(c.source, c.start, c.end): c for c in verified}
    numbers: dict[tuple[str, int, int], int] = {}
    for sent, groups in pending:
        keys = [(c.source, c.start, c.end) for group in groups for c in group]
        if not all(k in ok for k in keys):
            result.rejected.append(
                Rejected(_display(sent.raw), "its source changed since it was indexed")
            )
            continue
        for key in keys:
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                result.citations.append(ok[key].model_copy(update={"n": numbers[key]}))
        result.sentences.append(_render(sent, groups, numbers))
    return result


def split_draft(draft: str) -> list[_Sentence]:
    """Sentences of a draft, quote-aware: a period inside a quotation does not end a sentence."""
    draft = _MD_IMAGE.sub("", strip_thinking(draft))
    draft = _HTML_TAG.sub("", _HTML_BLOCK.sub("", _MD_LINK.sub(r"\1", draft)))
    sentences: list[_Sentence] = []
    for line in draft.splitlines():
        line = _LIST_PREFIX.sub("", line, count=1)
        start = 0
        i = 0
        while i < len(line):
            ch = line[i]
            end = -1
            if ch in _QUOTE_CHARS:
                close = _closing_quote(line, i)
                if close < 0:
                    break  # an unbalanced quote: the rest of the line is one (rejected) sentence
                inner = line[i + 1 : close].rstrip()
                i = close
                if inner[-1:] and inner[-1] in _TERMINAL:
                    end = _boundary(line, close + 1, after_quote=True)
            elif ch in _TERMINAL and not _abbreviation(line, i):
                j = i + 1
                while j < len(line) and line[j] in _TERMINAL + ")":
                    j += 1
                end = _boundary(line, j, after_quote=False)
            if end > 0:
                sentences.append(_tokenize(line[start:end]))
                start = i = end
                continue
            i += 1
        if line[start:].strip():
            sentences.append(_tokenize(line[start:]))
    return [s for s in sentences if s.raw.strip()]


def _closing_quote(text: str, i: int) -> int:
    """Find where the quotation opened at ``i`` closes: its pair first, any quote mark else."""
    pair = "”" if text[i] == "“" else '"'
    close = text.find(pair, i + 1)
    if close < 0:
        close = min((p for p in (text.find(c, i + 1) for c in _QUOTE_CHARS) if p >= 0), default=-1)
    return close


def _boundary(line: str, j: int, *, after_quote: bool) -> int:
    """Where a sentence ending before ``j`` really ends (markers after it belong to it), or -1."""
    k = j
    absorbed = False
    while True:
        spaced = k
        while spaced < len(line) and line[spaced].isspace():
            spaced += 1
        mk = _MARKER.match(line, spaced)
        if not mk:
            break
        k, absorbed = mk.end(), True
    if absorbed and k < len(line) and line[k] in _TERMINAL:
        k += 1
    rest = line[k:]
    if not rest.strip():
        return len(line)
    if not rest[:1].isspace():
        return -1
    nxt = rest.lstrip()[:1]
    if after_quote and not absorbed and not (nxt.isupper() or nxt in _QUOTE_CHARS):
        return -1
    return k


def _abbreviation(line: str, i: int) -> bool:
    return line[i] == "." and is_abbreviation(line, i)


def _tokenize(text: str) -> _Sentence:
    tokens: list[_Token] = []
    prose: list[str] = []
    i = 0
    unbalanced = False

    def flush() -> None:
        if prose:
            tokens.append(_Token("prose", "".join(prose)))
            prose.clear()

    while i < len(text):
        ch = text[i]
        if ch in _QUOTE_CHARS:
            close = _closing_quote(text, i)
            if close < 0:
                unbalanced = True
                prose.append(text[i:])
                break
            flush()
            tokens.append(
                _Token("quote", text[i + 1 : close], open_char=ch, close_char=text[close])
            )
            i = close + 1
            continue
        m = _MARKER_GROUP.match(text, i) if ch == "[" else None
        if m:
            flush()
            nums = tuple(dict.fromkeys(int(x) for x in re.findall(r"\d+", m.group(0))))
            tokens.append(_Token("marker", m.group(0), numbers=nums))
            i = m.end()
            continue
        prose.append(ch)
        i += 1
    flush()
    return _Sentence(text.strip(), tokens, unbalanced)


def _check_sentence(sent: _Sentence, hits: list[ScoredChunk]) -> tuple[list[list[Citation]], str]:
    """Citations per quote (one per cited passage), or an empty list and the reason to drop."""
    if sent.unbalanced:
        return [], "unbalanced quotation marks"
    quotes = [t for t in sent.tokens if _is_quote(t)]
    if not quotes:
        return [], "quotes nothing from the passages"
    groups: list[list[Citation]] = []
    waiting: list[_Token] = []
    for tok in sent.tokens:
        if _is_quote(tok):
            waiting.append(tok)
        elif tok.kind == "marker":
            if any(n < 1 or n > len(hits) for n in tok.numbers):
                return [], f"cites a passage that does not exist ({tok.text})"
            if not waiting:
                return [], f"cites {tok.text} for words that are not quoted"
            for quote in waiting:
                group: list[Citation] = []
                for n in tok.numbers:
                    cit, why = locate(quote.text, hits[n - 1])
                    if cit is None:
                        return [], f"“{_short(quote.text)}” {why} [{n}]"
                    group.append(cit)
                groups.append(group)
            waiting = []
    if waiting:
        return [], f"“{_short(waiting[0].text)}” is not followed by a passage marker"
    return groups, ""


def _render(
    sent: _Sentence, groups: list[list[Citation]], numbers: dict[tuple[str, int, int], int]
) -> str:
    """Rewrite the sentence: exact quotes, clean prose, markers renumbered to the citations."""
    parts: list[str] = []
    group_iter = iter(groups)
    since_marker: list[Citation] = []
    for tok in sent.tokens:
        if _is_quote(tok):
            group = next(group_iter)
            since_marker.extend(group)
            parts.append(f"{tok.open_char}{group[0].quote}{tok.close_char}")
        elif tok.kind == "marker":
            nums = dict.fromkeys(numbers[(c.source, c.start, c.end)] for c in since_marker)
            parts.append("".join(f"[{n}]" for n in nums))
            since_marker = []
        else:  # prose, or quote marks around no words
            text = tok.text if tok.kind == "prose" else tok.open_char + tok.text + tok.close_char
            parts.append(_clean_prose(text))
    text = re.sub(r"[ \t]+", " ", "".join(parts))
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return text.strip()


def _clean_prose(text: str) -> str:
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _URL.sub("", text)
    return text.replace("<", "").replace(">", "")


def _is_quote(tok: _Token) -> bool:
    """Tell a quotation worth checking: quote marks around at least one word character."""
    return tok.kind == "quote" and bool(re.search(r"\w", tok.text))


def _display(sentence: str) -> str:
    text = _WS.sub(" ", sentence).strip()
    return text if len(text) <= 500 else text[:499] + "…"


def _short(text: str, limit: int = 60) -> str:
    text = normalise(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strip_thinking(text: str) -> str:
    """The draft without a reasoning model's ``<think>`` blocks."""
    return _THINK.sub("", text)


def is_no_answer(draft: str) -> bool:
    """True when the model replied with the refusal sentence it was told to use."""
    return normalise(draft).rstrip(".").lower() == normalise(REFUSAL).rstrip(".").lower()
