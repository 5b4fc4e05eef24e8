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
MAX_XML_BYTES = 200_000_000
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
        pieces: list[tuple[str, BlockKind, int]] = []
        total = 0
        with archive.open(info) as stream:
            for piece in _stream(stream, styles):
                total += len(piece[0]) + 2
                if total > max_chars:
                    raise DocxError(
                        f"its text runs past {max_chars:,} characters (QA_MAX_TEXT_MB); "
                        "split the document"
                    )
                pieces.append(piece)
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


def _stream(stream: Any, styles: dict[str, str]) -> Iterator[tuple[str, BlockKind, int]]:
    from lxml import etree

    events = etree.iterparse(stream, events=("end",), tag=(f"{W}p", f"{W}tr"), **_parser_args())
    for _event, el in events:
        if el.tag == f"{W}tr":
            cells = [" ".join(_text(tc).split()) for tc in el.iter(f"{W}tc")]
            row = " | ".join(c for c in cells if c)
            if row and not _inside(el, f"{W}tr"):
                yield row, "row", 0
            if not _inside(el, f"{W}tbl", skip=1):
                _free(el)
            continue
        if _inside(el, f"{W}tc"):
            continue  # read with its row
        text = " ".join(_text(el).split())
        level = _heading_level(el, styles)
        if text:
            yield text, "heading" if level else "text", level
        _free(el)


def _text(el: Any) -> str:
    parts = []
    for node in el.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"):
        parts.append((node.text or "") if node.tag == f"{W}t" else " ")
    return "".join(parts)


def _inside(el: Any, tag: str, skip: int = 0) -> bool:
    parent = el.getparent()
    while parent is not None:
        if parent.tag == tag:
            if skip == 0:
                return True
            skip -= 1
        parent = parent.getparent()
    return False


def _free(el: Any) -> None:
    """Drop what has been read, so memory stays flat however long the document is."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def _heading_level(p: Any, styles: dict[str, str]) -> int:
    ppr = p.find(f"{W}pPr")
    if ppr is None:
        return 0
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


def _style_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Style ids to style names ("Heading1" -> "heading 1"), from a bounded styles part."""
    from lxml import etree

    try:
        info = archive.getinfo("word/styles.xml")
    except KeyError:
        return {}
    _check_expansion(info)
    if info.file_size > 20_000_000:
        return {}
    root = etree.fromstring(archive.read(info), etree.XMLParser(**_parser_args()))
    names = {}
    for style in root.iter(f"{W}style"):
        name = style.find(f"{W}name")
        if name is not None:
            names[style.get(f"{W}styleId", "")] = name.get(f"{W}val", "")
    return names


def _title(archive: zipfile.ZipFile) -> str:
    from lxml import etree

    try:
        info = archive.getinfo("docProps/core.xml")
    except KeyError:
        return ""
    if info.file_size > 1_000_000:
        return ""
    try:
        root = etree.fromstring(archive.read(info), etree.XMLParser(**_parser_args()))
    except etree.XMLSyntaxError:
        return ""
    title = root.find("{http://purl.org/dc/elements/1.1/}title")
    return " ".join((title.text or "").split()) if title is not None else ""
