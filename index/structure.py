"""The structure of a text: its blocks, and the units (sentences, headings, code) quoted from them.

Blocks are paragraphs, headings, list items, code blocks and table rows.

HTML, PDF and DOCX loaders know their structure and hand blocks over. Plain text and Markdown
keep the file's own text (offsets must match ``read_text``), so their blocks are found here:
Markdown through markdown-it-py's block parser, plain text from blank lines, list markers,
underlined or numbered headings and indentation (code). A line break inside a
hard-wrapped paragraph is whitespace, not a sentence end, as a reader takes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from core.types import Block, BlockKind, Chunk, SourceText, Unit
from index.text import sentence_spans, trim

_LIST_ITEM = re.compile(r"\s*(?:[-*+•‣◦–]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+\S")
_UNDERLINE = re.compile(r"\s*([=\-~^*#+_])\1{2,}\s*")
_TERMINAL = re.compile(r"[.!?…:;,\"'”’)\]]\s*$")
_NUMBERED_HEADING = re.compile(r"(?:\d+\.)*\d+\.?\s+[A-Z]")
# Wrapped text has lines of about this width; longer lines are whole paragraphs.
_WRAP_WIDTH = 100


def structure_of(src: SourceText) -> list[Block]:
    """The blocks of a source: the loader's, else found in the text."""
    if src.blocks:
        return src.blocks
    return text_blocks(src.text, markdown=src.kind == "markdown")


def units_of(text: str, blocks: list[Block]) -> list[Unit]:
    """The quotable units of ``blocks`` (absolute offsets into ``text``), in order."""
    units: list[Unit] = []
    for block in blocks:
        if block.kind not in ("text", "item"):
            units.append(Unit(block.start, block.end, block.kind, True))
            continue
        spans = sentence_spans(text, block.start, block.end)
        for i, (a, b) in enumerate(spans):
            units.append(Unit(a, b, block.kind, i == len(spans) - 1))
    return units


def join_blocks(pieces: Iterable[tuple[str, BlockKind, int]]) -> tuple[str, list[Block]]:
    """The text of ``(text, kind, level)`` pieces joined by blank lines, with each block's offsets.

    Empty pieces are skipped. Loaders that build their own text (HTML, DOCX) use it, so a block
    is always ``text[block.start:block.end]`` and blocks are one blank line apart.
    """
    parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for piece, kind, level in pieces:
        if not piece:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(piece)
        blocks.append(Block(pos, pos + len(piece), kind, level))
        pos += len(piece)
    return "".join(parts), blocks


def split_units(text: str) -> list[Unit]:
    """Units of a raw text whose structure is not known (e.g. an old store's chunk)."""
    return units_of(text, text_blocks(text, markdown=False))


def chunk_units(chunk: Chunk) -> list[Unit]:
    """A chunk's units (chunk-relative): stored with it, or found in its text."""
    return chunk.units or split_units(chunk.text)


def heading_paths(text: str, blocks: list[Block]) -> Iterator[tuple[Block, str]]:
    """Each block with the heading path in effect at it (' › '-joined, the block's own included)."""
    stack: list[tuple[int, str]] = []
    for block in blocks:
        if block.kind == "heading":
            level = block.level or 1
            while stack and stack[-1][0] >= level:
                stack.pop()
            title = " ".join(text[block.start : block.end].split())[:160]
            stack.append((level, title))
        yield block, " › ".join(t for _, t in stack)


# plain text ------------------------------------------------------------------------------------
def text_blocks(text: str, *, markdown: bool = False) -> list[Block]:
    """Blocks of a plain-text or Markdown file; offsets are the file's own."""
    if markdown:
        return _markdown_blocks(text)
    blocks: list[Block] = []
    regions = list(_regions(text, 0, len(text)))
    for n, lines in enumerate(regions):
        after_colon = (
            n > 0 and text[regions[n - 1][-1][0] : regions[n - 1][-1][1]].rstrip()[-1:] == ":"
        )
        blocks.extend(
            _region_blocks(text, lines, last=n == len(regions) - 1, after_colon=after_colon)
        )
    return blocks


Line = tuple[int, int]  # start, end (no newline) of a non-blank line


def _regions(text: str, start: int, end: int) -> Iterator[list[Line]]:
    """Runs of non-blank lines (blank-line separated)."""
    region: list[Line] = []
    pos = start
    while pos <= end:
        nl = text.find("\n", pos, end)
        stop = end if nl == -1 else nl
        if text[pos:stop].strip():
            region.append((pos, stop))
        elif region:
            yield region
            region = []
        if nl == -1:
            break
        pos = nl + 1
    if region:
        yield region


def _indent(text: str, line: Line) -> int:
    raw = text[line[0] : line[1]]
    return len(raw.expandtabs(4)) - len(raw.expandtabs(4).lstrip())


def _region_blocks(
    text: str, lines: list[Line], *, last: bool, after_colon: bool = False
) -> list[Block]:
    out: list[Block] = []
    # Setext / reStructuredText headings: a line underlined with = - ~ ...
    if len(lines) >= 2 and _UNDERLINE.fullmatch(text[lines[1][0] : lines[1][1]]):
        char = text[lines[1][0] : lines[1][1]].strip()[0]
        a, b = trim(text, *lines[0])
        out.append(Block(a, b, "heading", {"=": 1, "-": 2}.get(char, 3)))
        rest = lines[2:]
        return out + (_region_blocks(text, rest, last=last) if rest else [])
    if len(lines) >= 2 and _UNDERLINE.fullmatch(text[lines[0][0] : lines[0][1]]):
        return _region_blocks(text, lines[1:], last=last)  # an over-line (===== Title =====)
    indented = all(_indent(text, line) >= 4 for line in lines)
    if indented and (after_colon or _looks_like_code(text, lines)):
        a, _ = trim(text, *lines[0])
        return [Block(a, trim(text, *lines[-1])[1], "code")]
    # A lone numbered line ("2.2 Fixed-width files") is a heading. Any other lone short line
    # may be a title, a dateline, a byline or a label: plain text cannot say which, so it stays
    # quotable text (below) and heads no section.
    if len(lines) == 1 and not last:
        a, b = trim(text, *lines[0])
        if _looks_like_heading(text[a:b]) and _NUMBERED_HEADING.match(text[a:b]):
            return [Block(a, b, "heading", _numbered_level(text[a:b]))]
    widths = [b - a for a, b in lines]
    wrapped = len(lines) >= 2 and max(widths) <= _WRAP_WIDTH
    group: list[Line] = []
    for line in lines:
        starts_item = bool(_LIST_ITEM.match(text[line[0] : line[1]]))
        if group and (starts_item or not _soft_break(text, group[-1], line, wrapped, widths)):
            out.append(_text_block(text, group))
            group = []
        group.append(line)
    if group:
        out.append(_text_block(text, group))
    return out


def _soft_break(text: str, prev: Line, line: Line, wrapped: bool, widths: list[int]) -> bool:
    """Whether the line break between ``prev`` and ``line`` is a wrap inside one paragraph."""
    if not wrapped:
        return False  # long lines are paragraphs each (one paragraph a line)
    prev_text = text[prev[0] : prev[1]].rstrip()
    short = len(prev_text) < 0.6 * max(widths)
    if short and _TERMINAL.search(prev_text):
        return False  # the short last line of a paragraph
    return not (_indent(text, line) >= 4 and prev_text.endswith(":"))  # code after "...:"


def _text_block(text: str, group: list[Line]) -> Block:
    a, _ = trim(text, *group[0])
    _, b = trim(text, *group[-1])
    item = bool(_LIST_ITEM.match(text[group[0][0] : group[0][1]]))
    return Block(a, b, "item" if item else "text")


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    if not words or len(line.strip()) > 80 or len(words) > 12:
        return False
    if _LIST_ITEM.match(line) and not _NUMBERED_HEADING.match(line.strip()):
        return False
    return not _TERMINAL.search(line) and any(ch.isalpha() for ch in line)


def _numbered_level(title: str) -> int:
    match = re.match(r"((?:\d+\.)*\d+)\.?\s", title)
    return match.group(1).count(".") + 1 if match else 1


def _looks_like_code(text: str, lines: list[Line]) -> bool:
    body = "\n".join(text[a:b] for a, b in lines)
    return bool(re.search(r"[{}();=<>\[\]$]|^\s*#", body, re.MULTILINE))


# markdown --------------------------------------------------------------------------------------
_FRONT_MATTER = re.compile(r"---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|$)", re.DOTALL)


def _markdown_blocks(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    skip = 0
    front = _FRONT_MATTER.match(text)
    if front:
        skip = text.count("\n", 0, front.end())  # YAML front matter is metadata, not content
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_span(first: int, last: int) -> tuple[int, int]:
        a = line_starts[first]
        b = line_starts[last] - 1 if last < len(line_starts) else len(text)
        return trim(text, a, max(a, b))

    blocks: list[Block] = []
    items = 0  # depth of list items around the current token
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    for i, tok in enumerate(tokens):
        items += {"list_item_open": 1, "list_item_close": -1}.get(tok.type, 0)
        if tok.map is None or tok.map[0] < skip:
            continue
        first, last = tok.map
        if tok.type == "heading_open":
            a, b = line_span(first, first + 1)
            content = tokens[i + 1].content
            at = text.find(content, a, b) if content else -1
            if at >= 0:
                a, b = at, at + len(content)
            blocks.append(Block(a, b, "heading", int(tok.tag[1])))
        elif tok.type == "paragraph_open":
            a, b = line_span(first, last)
            content = tokens[i + 1].content
            head = content.split("\n", 1)[0].strip()
            at = text.find(head, a, b) if head else -1
            blocks.append(Block(at if at >= 0 else a, b, "item" if items else "text"))
        elif tok.type in ("fence", "code_block"):
            inner = (first + 1, last - 1) if tok.type == "fence" else (first, last)
            if inner[1] > inner[0]:
                a, b = line_span(*inner)
                if b > a:
                    blocks.append(Block(a, b, "code"))
        elif tok.type == "tr_open":
            a, b = line_span(first, last)
            if b > a and not re.fullmatch(r"[\s|:\-]+", text[a:b]):
                blocks.append(Block(a, b, "row"))
    blocks.sort(key=lambda blk: blk.start)
    return [b for b in blocks if b.end > b.start]
