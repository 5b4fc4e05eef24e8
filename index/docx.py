"""DOCX to text and blocks, streamed and bounded.

A DOCX is a ZIP of XML. A 78 KB file can hold ``word/document.xml`` of hundreds of megabytes
(five million empty paragraphs compress to almost nothing), and a DOM of it costs gigabytes, so
the XML is parsed as a stream (lxml ``iterparse``, each paragraph freed once read) and refused
up front when it expands past a bound: more than ``MAX_XML_BYTES``, or more than
``MAX_EXPANSION`` times its compressed size once past a few megabytes. The extracted text is
capped at ``max_chars``. Headings come from "Heading N" / "Title" styles (or an outline level),
table rows become ``cell | cell`` lines; entities are never resolved and nothing is fetched.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from core.types import BlockKind

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MAX_XML_BYTES = 100_000_000
MAX_EXPANSION = 100  # compressed -> uncompressed; ordinary documents stay under ~20
_EXPANSION_FLOOR = 5_000_000  # small parts may compress extremely well and are harmless


class DocxError(ValueError):
    """The file is not a readable DOCX, or it would cost too much to read."""


def docx_blocks(data: bytes, max_chars: int) -> tuple[str, list[tuple[str, BlockKind, int]]]:
    """The document's title and its pieces ``(text, kind, level)`` in reading order.

    Raises:
        DocxError: not a DOCX, corrupt, or past a bound (the message names which).

    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DocxError("not a ZIP archive, so not a DOCX") from exc
    with archive:
        try:
            info = archive.getinfo("word/document.xml")
        except KeyError as exc:
            raise DocxError("no word/document.xml inside, so not a DOCX") from exc
        _check_expansion(info)
        styles = _style_names(archive)
        title = _title(archive)
        with archive.open(info) as stream:
            pieces = list(_stream(stream, styles, max_chars))
    return title, pieces


def _check_expansion(info: zipfile.ZipInfo) -> None:
    size, packed = info.file_size, max(info.compress_size, 1)
    if size > MAX_XML_BYTES or (size > _EXPANSION_FLOOR and size > MAX_EXPANSION * packed):
        raise DocxError(
            f"its document XML expands from {packed:,} to {size:,} bytes "
            f"(over {MAX_EXPANSION}x or {MAX_XML_BYTES // 1_000_000} MB); refused as a ZIP bomb"
        )


def _parser_args() -> dict[str, Any]:
    return {"resolve_entities": False, "no_network": True, "huge_tree": False}


def _stream(
    stream: Any, styles: dict[str, str], max_chars: int
) -> Iterator[tuple[str, BlockKind, int]]:
    """Paragraphs and table rows in reading order, each element freed as soon as it is read.

    Text is gathered run by run (``w:t``), so one paragraph of millions of runs costs no more
    memory than its text, and the character cap is checked as the text grows. A cell's
    paragraphs are joined with spaces; a table inside a cell reads as more text of that cell.
    """
    from lxml import etree

    paragraphs: list[tuple[list[str], int]] = []  # open paragraphs: text parts, heading level
    cells: list[list[str]] = []  # open cells: their paragraphs' texts
    rows: list[list[str]] = []  # open rows of the outermost table: their cells' texts
    tables = 0
    total = 0
    for event, el in etree.iterparse(stream, events=("start", "end"), **_parser_args()):
        tag = el.tag
        if event == "start":
            if tag == f"{W}p":
                paragraphs.append(([], 0))
            elif tag == f"{W}tbl":
                tables += 1
            elif tag == f"{W}tr" and tables == 1:
                rows.append([])
            elif tag == f"{W}tc" and tables == 1:
                cells.append([])
            continue
        if tag in _TEXT_TAGS and paragraphs:
            piece = (el.text or "") if tag == f"{W}t" else " "
            paragraphs[-1][0].append(piece)
            total += len(piece)
            if total > max_chars:
                raise DocxError(
                    f"its text runs past {max_chars:,} characters (QA_MAX_TEXT_MB); "
                    "split the document"
                )
        elif tag == f"{W}pPr" and paragraphs and el.getparent().tag == f"{W}p":
            parts, _ = paragraphs.pop()
            paragraphs.append((parts, _heading_level(el, styles)))
        elif tag == f"{W}p" and paragraphs:
            parts, level = paragraphs.pop()
            text = " ".join("".join(parts).split())
            if cells:
                if text:
                    cells[-1].append(text)
            elif text:
                yield text, "heading" if level else "text", level
        elif tag == f"{W}tc" and tables == 1 and cells:
            if rows:
                rows[-1].append(" ".join(cells.pop()))
        elif tag == f"{W}tr" and tables == 1 and rows:
            row = " | ".join(c for c in rows.pop() if c)
            if row:
                yield row, "row", 0
        elif tag == f"{W}tbl":
            tables -= 1
        parent = el.getparent()
        if tag in _FREE or (parent is not None and parent.tag == f"{W}body"):
            _free(el)


# Freed at their end: what holds the bulk (runs, paragraphs, rows, cells, tables) and anything
# directly under the body (content controls, sections). A paragraph's properties are read
# before its runs, so freeing a run may take them along.
_FREE = {f"{W}r", f"{W}p", f"{W}tr", f"{W}tc", f"{W}tbl", f"{W}hyperlink", f"{W}sdt"}
_TEXT_TAGS = {f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"}


def _free(el: Any) -> None:
    """Drop an element once read, and the already-read siblings before it."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _heading_level(ppr: Any, styles: dict[str, str]) -> int:
    """A paragraph's heading level from its properties: style name or outline level."""
    style = ppr.find(f"{W}pStyle")
    name = styles.get(style.get(f"{W}val", ""), "") if style is not None else ""
    if name.lower() == "title":
        return 1
    match = re.fullmatch(r"heading (\d)", name.lower())
    if match:
        return int(match.group(1))
    outline = ppr.find(f"{W}outlineLvl")
    if outline is not None and (val := outline.get(f"{W}val", "")).isdigit() and int(val) < 9:
        return int(val) + 1
    return 0


def _part(archive: zipfile.ZipFile, name: str, limit: int, *, guard: bool = False) -> Any:
    """A small XML part of the package, parsed; ``None`` when absent or over ``limit`` bytes.

    With ``guard``, a part that expands like a ZIP bomb refuses the whole file first.
    """
    from lxml import etree

    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if guard:
        _check_expansion(info)
    if info.file_size > limit:
        return None
    return etree.fromstring(archive.read(info), etree.XMLParser(**_parser_args()))


def _style_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Style ids to style names ("Heading1" -> "heading 1"), from a bounded styles part."""
    root = _part(archive, "word/styles.xml", 20_000_000, guard=True)
    names = {}
    for style in root.iter(f"{W}style") if root is not None else ():
        name = style.find(f"{W}name")
        if name is not None:
            names[style.get(f"{W}styleId", "")] = name.get(f"{W}val", "")
    return names


def _title(archive: zipfile.ZipFile) -> str:
    from lxml import etree

    try:
        root = _part(archive, "docProps/core.xml", 1_000_000)
    except etree.XMLSyntaxError:
        return ""
    title = root.find("{http://purl.org/dc/elements/1.1/}title") if root is not None else None
    return " ".join((title.text or "").split()) if title is not None else ""
