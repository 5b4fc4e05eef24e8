"""Layout-aware PDF text extraction on pypdfium2: paragraphs, headings, list items, code, tables.

``extract_pdf`` gives the text in content order as blocks separated by a blank line (pages too):
a paragraph is one line (wrapped lines joined, hyphenation undone), a code block keeps its lines
and indentation; running headers/footers, page numbers, TOC/index entries and footnote marks are
dropped. ``extract_pdf_charmap`` also maps each output character to its pdfium char index, and
``char_boxes`` (``char_boxes_from_map`` with the charmap at hand) a text range to glyph boxes.
pdfium is not thread-safe: serialise calls.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import statistics
import unicodedata
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c


class PdfPasswordError(ValueError):
    """The PDF needs a password (an empty user password is tried automatically)."""


@dataclass(frozen=True)
class Block:
    """``text[start:end]`` of a PdfText: heading, paragraph, list_item, code or table_row."""

    start: int
    end: int
    kind: str
    level: int = 0  # heading level (1 = top) for headings, else 0


@dataclass
class PdfText:
    """A PDF's text, its pages' (start, end) offsets, its blocks (in text order) and title."""

    text: str
    pages: list[tuple[int, int]]
    blocks: list[Block]
    title: str


Box = tuple[float, float, float, float]
HYPHEN = "\x02"  # pdfium's mark for a hyphen at a line end (GetText gives U+FFFE)
_MONO = re.compile(r"mono(?!type)|courier|cms?l?i?tt|typewriter|consol|menlo|monaco|code", re.I)
_BOLD = re.compile(r"bold|black|heavy|semibold|demi|cmbx|cmb\d", re.IGNORECASE)
_LIST = re.compile(r"(?:[•◦▪▫‣∙●○■□–—*·-]|\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)])\s+")
_NUMBERED = re.compile(r"(?:Appendix\s+[A-Z]|\d+|[A-Z](?=\.\d))((?:\.\d+)*)\.?\s+\S")
_LEADER = re.compile(r"(?:\.\s?){4,}\s*(?:[\d\s,–-]*\d|[ivxlcdm]+)\s*$|…\s*\d+\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;][\"'’”)\]]*$")
_NO_SPACE_AFTER = set("/_-.\\")  # a wrapped URL, path or option: no space when lines are joined
# FPDFText_GetTextObject returning a plain address: a cheap per-glyph key for the font cache
_TEXT_OBJECT = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
    ctypes.cast(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p).value or 0
)


@dataclass(slots=True)
class _Ch:
    s: str  # output text of the glyph ('' = dropped, HYPHEN = line-end hyphen)
    idx: int  # pdfium char index on its page
    x0: float  # loose box (font ascent/descent, advance), turned so that text runs rightwards
    y0: float
    x1: float
    y1: float
    size: float
    mono: bool
    bold: bool
    space: bool  # pdfium has a space before this glyph
    cell: bool = False  # a wide gap (> 3 em) before this glyph on its line


@dataclass(slots=True)
class _Line:
    chars: list[_Ch]
    x0: float
    x1: float
    y0: float
    y1: float
    base: float = 0.0  # loose bottom of the dominant-size glyphs: a baseline proxy
    size: float = 0.0
    mono: bool = False
    bold: bool = False
    note: bool = False  # the first line of a footnote
    kind: str = "prose"  # prose | item | heading | code | table_row
    text_x: float = 0.0  # items and footnotes: where the text after the marker starts
    right: float = 0.0  # right edge of the line's column
    text: str = ""
    idx: list[int] = field(default_factory=list)


def open_pdf(data: bytes) -> pdfium.PdfDocument:
    """The document (close it after use); PdfPasswordError or ValueError if protected or corrupt."""
    try:
        return pdfium.PdfDocument(bytes(data))
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise PdfPasswordError("PDF needs a password; save an unencrypted copy") from exc
        raise ValueError(f"corrupt or unreadable PDF ({exc})") from exc


def _page_chars(page: pdfium.PdfPage) -> list[_Ch]:
    """The page's glyphs in content order; rotated text is turned to run left to right."""
    page.set_rotation(0)  # (in memory) else pdfium reorders the glyphs; coordinates are the same
    tp = (textpage := page.get_textpage()).raw
    try:
        n = pdfium_c.FPDFText_CountChars(tp)
        if n <= 0:
            return []
        buf = (ctypes.c_ushort * (n + 1))()  # if UTF-16 units do not match glyphs: one by one
        units = (
            [chr(u) for u in buf[:n]]
            if pdfium_c.FPDFText_GetText(tp, 0, n, buf) == n + 1
            else [chr(pdfium_c.FPDFText_GetUnicode(tp, i)) for i in range(n)]
        )
        turns = Counter(
            round(pdfium_c.FPDFText_GetCharAngle(tp, i) / 1.5707963) % 4
            for i in range(0, n, max(1, n // 200))
            if not units[i].isspace()
        )
        quarter = turns.most_common(1)[0][0] if turns else 0
        rect, name, flags = pdfium_c.FS_RECTF(), ctypes.create_string_buffer(128), ctypes.c_int()
        address = ctypes.cast(tp, ctypes.c_void_p).value
        fonts: dict[int, tuple[float, bool, bool]] = {}  # per text object: size, mono, bold
        out, space = [], False
        for i, u in enumerate(units):
            if u in " \t\xa0\u3000":
                space = True
                continue
            if u < " " and u != HYPHEN:
                continue  # pdfium's line breaks, control characters
            if "\ufb00" <= u <= "\ufb06" or u == "\ufffe":  # ligatures: fi, fl...; hyphen mark
                u = HYPHEN if u == "\ufffe" else unicodedata.normalize("NFKC", u)
            pdfium_c.FPDFText_GetLooseCharBox(tp, i, rect)
            key = _TEXT_OBJECT(address, i) or -i
            font = fonts.get(key)
            if font is None:
                pdfium_c.FPDFText_GetFontInfo(tp, i, name, len(name), flags)
                fname = name.value.decode("latin-1")
                font = fonts[key] = (
                    round(pdfium_c.FPDFText_GetFontSize(tp, i), 1),
                    bool(flags.value & 1 or _MONO.search(fname)),
                    bool(_BOLD.search(fname) or pdfium_c.FPDFText_GetFontWeight(tp, i) >= 600),
                )
            x0, y0, x1, y1 = rect.left, rect.bottom, rect.right, rect.top
            for _ in range(quarter):  # turn counter-clockwise (pdfium's char angle is clockwise)
                x0, y0, x1, y1 = -y1, x0, -y0, x1
            out.append(_Ch(u, i, x0, y0, x1, y1, *font, space))
            space = False
        return out
    finally:
        textpage.close()


def _page_lines(chars: list[_Ch]) -> list[_Line]:
    """Glyphs grouped into lines: overlapping vertically and moving right (superscripts too)."""
    lines: list[_Line] = []
    cur = last = None
    for c in chars:
        if cur is not None and last is not None and last.x0 - 0.5 <= c.x0:
            lo, hi = max(c.y0, cur.y0), min(c.y1, cur.y1)
            if hi - lo >= 0.5 * min(c.y1 - c.y0, cur.y1 - cur.y0):
                c.cell = c.x0 - last.x1 > 3 * c.size
                cur.chars.append(c)
                cur.x1, cur.y0, cur.y1 = max(cur.x1, c.x1), min(cur.y0, c.y0), max(cur.y1, c.y1)
                last = c
                continue
        cur, last = _Line([c], c.x0, c.x1, c.y0, c.y1), c
        lines.append(cur)
    for ln in lines:
        ln.size = Counter(c.size for c in ln.chars).most_common(1)[0][0]
        ln.base = statistics.median(c.y0 for c in ln.chars if abs(c.size - ln.size) < 0.2)
        ln.mono = all(c.mono for c in ln.chars)
        ln.bold = all(c.bold for c in ln.chars if c.s.isalnum())
    # footnote marks: raised small digits, dropped when a line on the page starts with them
    ups = [
        [
            c.size < 0.8 * ln.size and c.y0 > ln.base + 0.2 * ln.size and c.s.isdigit()
            for c in ln.chars
        ]
        for ln in lines
    ]
    notes = set()
    for ln, up in zip(lines, ups, strict=True):
        if 0 < (lead := len(list(itertools.takewhile(bool, up)))) < len(ln.chars):
            notes.add("".join(c.s for c in ln.chars[:lead]))
            ln.note, ln.text_x = True, ln.chars[lead].x0
    for ln, up in zip(lines, ups, strict=True):
        for raised, run in itertools.groupby(range(len(up)), key=up.__getitem__):
            marks = [ln.chars[k] for k in run]
            if raised and marks[0] is not ln.chars[0] and "".join(c.s for c in marks) in notes:
                for c in marks:
                    c.s = ""
        _line_text(ln)
    return [ln for ln in lines if ln.text.strip()]


def _line_text(ln: _Line) -> None:
    """A line's text: pdfium's spaces, a space where glyphs are apart, " | " between cells."""
    text: list[str] = []
    idx: list[int] = []
    prev: _Ch | None = None
    space, cells = False, sum(c.cell for c in ln.chars)
    for c in ln.chars:
        if c.s == "\xad":  # a soft hyphen shows only at a line end
            c.s = HYPHEN if c is ln.chars[-1] else ""
        space = space or c.space
        if c.s and prev is not None and text:
            wide = space or c.cell or c.x0 - prev.x1 > 0.25 * ln.size
            gap = " | " if c.cell and cells > 1 else " " if wide else ""
            if gap and text[-1] != " ":
                text.extend(gap)
                idx.extend([-1] * len(gap))
        if c.s:
            text.extend(c.s)
            idx.extend([c.idx] * len(c.s))
            space = False
        prev = c  # a dropped footnote mark still closes the gap
    ln.text, ln.idx = "".join(text), idx


def _code_text(lines: list[_Line]) -> tuple[str, list[int]]:
    """Code lines joined by newlines, spaced on a monospace grid (a column = median advance)."""
    glyphs = [c for ln in lines for c in ln.chars if c.s]
    cw, left = statistics.median(c.x1 - c.x0 for c in glyphs) or 1.0, min(c.x0 for c in glyphs)
    text: list[str] = []
    idx: list[int] = []
    for n, ln in enumerate(lines):
        text += "\n" * bool(n)
        idx += [-1] * bool(n)
        start = len(text)
        for c in ln.chars:
            if c.s:
                col, now = round((c.x0 - left) / cw), len(text) - start
                pad = col - now if col > now else int(c.space and now > 0 and text[-1] != " ")
                text.extend(" " * pad + c.s)
                idx.extend([-1] * pad + [c.idx] * len(c.s))
    return "".join(text), idx


def _drop_running(pages: list[list[_Line]]) -> None:
    """Drop isolated top/bottom lines repeating across pages (digits masked) or page numbers."""
    for _, top in itertools.product(range(2), (True, False)):  # twice: header and number lines
        cand: dict[int, _Line] = {}
        for p, lines in enumerate(pages):
            if lines:
                ln = max(lines, key=lambda x: x.y1) if top else min(lines, key=lambda x: x.y0)
                gap = min((abs(ln.base - o.base) for o in lines if o is not ln), default=1e9)
                if gap > 2 * ln.size:
                    cand[p] = ln
        key = {
            p: re.sub(r"\d+|\b[ivxlc]+\b", "#", " ".join(ln.text.lower().split()))
            for p, ln in cand.items()
        }
        drop = {
            p
            for p, k in key.items()
            if (Counter(key.values())[k] >= 2 and len(pages) > 1)
            or re.fullmatch(r"(page )?#( of #)?|- # -", k)
        }
        bands = Counter(round(cand[p].base) for p in drop)  # where the running lines sit
        drop |= {
            p
            for p, ln in cand.items()
            if bands[round(ln.base)] >= 2 and re.search(r"^\d|\d$", ln.text)
        }
        for p in drop:
            pages[p].remove(cand[p])


def _classify(lines: list[_Line], body: float) -> None:
    for ln in lines:
        m, cells = _LIST.match(ln.text), [c for c in ln.chars if c.cell and c.s]
        # the right edge of its column: where justified lines end, else the longest line's end
        ends = [o.x1 for o in lines if o.x0 < ln.x1 and o.x1 > ln.x0 and not o.mono]
        ends = ends or [o.x1 for o in lines if o.x0 < ln.x1 and o.x1 > ln.x0] or [ln.x1]
        ((edge, k),) = Counter(int(x // 2) for x in ends).most_common(1)
        ln.right = (
            max(x for x in ends if int(x // 2) == edge)
            if k >= max(3, len(ends) // 3)
            else max(ends)
        )
        if ln.mono:
            ln.kind = "code"
        elif len(cells) > 1:
            ln.kind = "table_row"
        elif ln.size >= 1.15 * body and len(ln.text) < 200:
            ln.kind = "heading"
        elif m or cells:  # a list item, or a term and its description
            ln.kind = "item"
            first = ln.idx[m.end()] if m and m.end() < len(ln.idx) else -1
            ln.text_x = (
                cells[0].x0 if cells else next((c.x0 for c in ln.chars if c.idx == first), ln.x0)
            )


def _continues(block: list[_Line], kind: str, ln: _Line, pitch: float) -> bool:
    """Whether line ln continues the block (of that kind) rather than starting a new one."""
    prev, em, dy = block[-1], ln.size, block[-1].base - ln.base
    if kind == "table_row" or ln.kind == "table_row" or ln.note:
        return False
    if kind == "code" or ln.kind == "code":  # a blank line splits a code block
        return kind == ln.kind and 0 < dy <= 1.5 * pitch * em
    if kind == "heading" or ln.kind == "heading":
        return (
            kind == ln.kind
            and abs(em - prev.size) < 0.5
            and 0 < dy <= 1.6 * em
            and not _NUMBERED.match(ln.text)
        )
    if (
        abs(em - prev.size) > 0.15 * prev.size
        or prev.bold != ln.bold
        or not 0 < dy <= 1.15 * pitch * em + 0.5
    ):
        return False
    first_word = next((a.x1 for a, b in itertools.pairwise(ln.chars) if b.space), ln.x1) - ln.x0
    full = prev.x1 + 0.3 * em + first_word > prev.right  # the next line's first word did not fit
    ends = bool(_SENTENCE_END.search(prev.text))
    if ends and not full:
        return False
    if len(block) == 1 and kind == "paragraph":  # not indented further, unless the line was full
        aligned = ln.x0 <= (prev.text_x if prev.note else prev.x0) + 0.5 * em or full
    else:
        aligned = abs(ln.x0 - (block[1].x0 if len(block) > 1 else block[0].text_x)) <= 0.5 * em
    return aligned and (ln.kind == "prose" or (full and not ends))


def _segment(lines: list[_Line], pitch: float) -> list[tuple[str, list[_Line]]]:
    blocks: list[tuple[str, list[_Line]]] = []
    for ln in lines:
        if blocks and _continues(blocks[-1][1], blocks[-1][0], ln, pitch):
            blocks[-1][1].append(ln)
        else:
            blocks.append(({"item": "list_item", "prose": "paragraph"}.get(ln.kind, ln.kind), [ln]))
    return [
        (
            "heading"
            if kind == "paragraph"
            and len(blk) == 1
            and blk[0].bold  # a lone bold
            and not re.search(r"[.,;:]$", blk[0].text)
            else kind,
            blk,
        )
        for kind, blk in blocks
    ]


def _word_counts(pages: list[list[_Line]]) -> Counter[str]:
    """Words of the prose, and parts of hyphenated words; not halves of words broken at an end."""
    words: Counter[str] = Counter()
    for lines in pages:
        cut = False
        for ln in lines:
            toks = [] if ln.mono else re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", ln.text)
            end = ln.text.endswith(HYPHEN)
            for w in toks[int(cut) : len(toks) - end]:
                words.update(t.lower() for t in {w, *w.split("-")})
            cut = end
    return words


def _hyphen(left: str, right: str, words: Counter[str]) -> str:
    """What a line-end hyphen becomes: "" (informa-tion), "-" (fixed-width), "- " (pre- or)."""
    lw = re.search(r"[\w-]*$", left).group(0)  # type: ignore[union-attr]
    rw = re.match(r"[\w-]*", right).group(0)  # type: ignore[union-attr]
    if rw in ("and", "or", "nor", "to"):
        return "- "
    if (
        not lw
        or not rw
        or "-" in lw + rw
        or rw[0].isupper()
        or (lw.isupper() and len(lw) > 1)
        or not (lw[-1].isalpha() and rw[0].isalpha())
    ):
        return "-"  # TeX breaks a word with an explicit hyphen only there; Addison-Wesley; DBMS-x
    lw, rw = lw.lower(), rw.lower()
    hyphenated, joined = words[f"{lw}-{rw}"], words[lw + rw]
    if hyphenated != joined:
        return "-" if hyphenated > joined else ""
    return "-" if min(len(lw), len(rw)) > 2 and words[lw] and words[rw] else ""  # machine-made


def _join(lines: list[_Line], words: Counter[str]) -> tuple[str, list[int]]:
    """One line of text: wrapped lines joined by a space, hyphenation undone."""
    text, idx = list(lines[0].text), list(lines[0].idx)
    for prev, ln in itertools.pairwise(lines):
        if text[-1] == HYPHEN:
            sep = _hyphen("".join(text[-40:-1]), ln.text, words)
            text[-1:], idx[-1:] = list(sep), [idx[-1], -1][: len(sep)]
        elif not (
            (text[-1] in _NO_SPACE_AFTER and prev.chars[-1].mono and ln.chars[0].mono)
            or (text[-1] == "-" and text[-2:-1] != [" "] and ln.text[:1].isalnum())
        ):
            text.append(" ")
            idx.append(-1)
        text.extend(ln.text)
        idx.extend(ln.idx)
    return "".join(text).replace(HYPHEN, "-"), idx


def _levels(heads: list[tuple[float, str]]) -> list[int]:
    """Heading levels: numbering depth ("2.2" -> 2), else that of numbered headings as big."""
    sizes = [round(s) for s, _ in heads]
    depths = [m.group(1).count(".") + 1 if (m := _NUMBERED.match(t)) else 0 for _, t in heads]
    pairs = Counter((z, d) for z, d in zip(sizes, depths, strict=True) if d)
    known = {z: d for (z, d), _ in reversed(pairs.most_common())}  # the commonest depth per size
    rank = sorted(set(sizes), reverse=True)  # when nothing is numbered: by size
    return [
        d or known.get(z) or min(6, max([k for s, k in known.items() if s > z], default=0) + 1)
        if known
        else rank.index(z) + 1
        for z, d in zip(sizes, depths, strict=True)
    ]


def extract_pdf_charmap(data: bytes) -> tuple[PdfText, array[int]]:
    """extract_pdf, and per character of the text its pdfium char index on its page (or -1)."""
    pdf = open_pdf(data)
    try:
        pages = [_page_lines(_page_chars(pdf[i])) for i in range(len(pdf))]
        title = (pdf.get_metadata_value("Title") or "").strip()
    except pdfium.PdfiumError as exc:
        raise ValueError(f"corrupt or unreadable PDF ({exc})") from exc
    finally:
        pdf.close()
    _drop_running(pages)
    for lines in pages:  # TOC / index entries (dotted leaders; they may wrap), index letters
        toc = [not ln.mono and bool(_LEADER.search(ln.text)) for ln in lines] + [False]
        lines[:] = [
            ln
            for n, ln in enumerate(lines)
            if not (
                toc[n]
                or (len(ln.text.strip()) < 2 and not ln.mono)
                or (toc[n + 1] and 0 < ln.base - lines[n + 1].base < 1.6 * ln.size)
            )
        ]
    sizes = Counter(c.size for ln in itertools.chain(*pages) for c in ln.chars).most_common(1)
    body = sizes[0][0] if sizes else 10.0  # the body text's font size
    steps = Counter(
        round((a.base - b.base) / a.size, 2)
        for p in pages
        for a, b in itertools.pairwise(p)
        if a.size == b.size == body and a.size < a.base - b.base
    )
    pitch = steps.most_common(1)[0][0] if steps else 1.2  # baseline step, in font sizes
    words = _word_counts(pages)

    parts: list[str] = []
    cmap = array("i")
    spans: list[tuple[int, int]] = []
    blocks: list[Block] = []
    heads: list[tuple[int, float, str]] = []
    pos = 0
    for lines in pages:
        _classify(lines, body)
        if spans:  # pages are separated by a blank line
            parts.append("\n\n")
            cmap.extend((-1, -1))
            pos += 2
        start = pos
        for n, (kind, blk) in enumerate(_segment(lines, pitch)):
            text, idx = _code_text(blk) if kind == "code" else _join(blk, words)
            sep = "\n\n" * bool(n)  # blocks are separated by a blank line
            if kind == "heading":
                heads.append((len(blocks), blk[0].size, text))
            blocks.append(Block(pos + len(sep), pos + len(sep) + len(text), kind))
            parts.append(sep + text)
            cmap.extend([-1] * len(sep) + idx)
            pos += len(sep) + len(text)
        spans.append((start, pos))
    for (b, _, _), level in zip(heads, _levels([(s, t) for _, s, t in heads]), strict=True):
        blocks[b] = Block(blocks[b].start, blocks[b].end, "heading", level)
    text = "".join(parts)
    if not title and heads:
        title = max(heads[:5], key=lambda h: h[1])[2]
    return PdfText(text, spans, blocks, title or text.strip().split("\n")[0][:200]), cmap


def extract_pdf(data: bytes) -> PdfText:
    """The PDF's text as blocks; PdfPasswordError or ValueError if protected or corrupt."""
    return extract_pdf_charmap(data)[0]


def char_boxes(data: bytes, pdftext: PdfText, start: int, end: int) -> list[tuple[int, Box]]:
    """Glyph boxes of text[start:end]: (page index, (left, bottom, right, top) in PDF points).

    Unrotated page space; inserted characters have no box. Slow: extracts the PDF again (with
    the charmap at hand, ``char_boxes_from_map`` does not).
    """
    again, cmap = extract_pdf_charmap(data)
    if again.text != pdftext.text:
        raise ValueError("pdftext was not extracted from this PDF (or by another version)")
    pdf = open_pdf(data)
    try:
        return char_boxes_from_map(pdf, again.pages, cmap, start, end)
    finally:
        pdf.close()


def char_boxes_from_map(
    pdf: pdfium.PdfDocument,
    pages: Sequence[tuple[int, int]],
    cmap: Sequence[int],
    start: int,
    end: int,
) -> list[tuple[int, Box]]:
    """``char_boxes`` from the open document and the pages and charmap extracted from it.

    The pages' rotation is set to 0 while their glyphs are read and restored afterwards.
    """
    out: list[tuple[int, Box]] = []
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    for p, (a, b) in enumerate(pages):  # a ligature gives several characters: once
        glyphs = [g for g in dict.fromkeys(cmap[max(a, start) : max(a, min(b, end))]) if g >= 0]
        if not glyphs:
            continue
        page = pdf[p]
        turned = page.get_rotation()
        page.set_rotation(0)  # the glyph order of extract_pdf_charmap
        textpage = page.get_textpage()  # kept referenced: pdfium's text page lives as long
        try:
            for ix in glyphs:
                if pdfium_c.FPDFText_GetCharBox(textpage.raw, ix, left, right, bottom, top):
                    out.append((p, (left.value, bottom.value, right.value, top.value)))
        finally:
            textpage.close()
            page.set_rotation(turned)
    return out
