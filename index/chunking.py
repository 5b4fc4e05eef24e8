"""Edit-stable chunking: chunks are runs of whole sentences with boundaries set by content.

A boundary falls after a paragraph once a chunk is long enough, or after a sentence whose own
hash says so (content-defined chunking at sentence granularity), or before the chunk would grow
too long. Because every rule looks only at the text since the previous boundary, an edit changes
the chunk it touches and, at worst, the next one or two; boundaries then fall where they fell
before, so later chunks keep their text, hash and id, and are never embedded again.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import replace

from core.settings import ChunkingSettings
from core.types import Chunk, SourceText, Unit, encode_units, text_hash
from index.structure import heading_paths, structure_of, units_of
from index.text import trim


def chunk_source(src: SourceText, config: ChunkingSettings | None = None) -> list[Chunk]:
    """Cut a source's text into chunks of whole units that keep their character offsets.

    Each chunk carries its units (offsets relative to the chunk) and the heading path in effect
    at its start.
    """
    cfg = config or ChunkingSettings()
    blocks = structure_of(src)
    section_at = [(b.start, path) for b, path in heading_paths(src.text, blocks)]
    units = _pieces(src.text, units_of(src.text, blocks), cfg.max_chars)
    groups: list[list[Unit]] = []
    cur: list[Unit] = []
    for i, unit in enumerate(units):
        if cur and unit.end - cur[0].start > cfg.max_chars:
            groups.append(cur)
            cur = []
        if (
            cur
            and unit.kind == "heading"
            and cur[-1].kind != "heading"
            and (unit.start - cur[0].start >= cfg.min_chars)
        ):
            groups.append(cur)  # a section starts a chunk rather than closing one
            cur = []
        cur.append(unit)
        following = units[i + 1] if i + 1 < len(units) else None
        if _boundary_after(src.text, unit, following, unit.end - cur[0].start, cfg):
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)

    chunks: list[Chunk] = []
    seen: Counter[str] = Counter()
    cursor = 0
    for ordinal, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        body = src.text[start:end]
        paths = []
        for u in group:  # the heading path in effect at each unit (a heading's includes itself)
            while cursor + 1 < len(section_at) and section_at[cursor + 1][0] <= u.start:
                cursor += 1
            on = bool(section_at) and section_at[cursor][0] <= u.start
            paths.append(section_at[cursor][1] if on else "")
        # The chunk's section is the path at its first unit that is not a heading (its own
        # headings included): the titles a reader would see above the chunk's text.
        anchor = next((i for i, u in enumerate(group) if u.kind != "heading"), len(group) - 1)
        section = paths[anchor]
        changes = [(i, paths[i]) for i in range(anchor + 1, len(group)) if paths[i] != paths[i - 1]]
        rel = [replace(u, start=u.start - start, end=u.end - start) for u in group]
        # Everything stored with the chunk: an equal hash means nothing needs rewriting.
        h = text_hash(f"{section}\0{body}\0{encode_units(rel)}\0{changes}")
        occurrence = seen[h]
        seen[h] += 1
        chunks.append(
            Chunk(
                id=Chunk.make_id(src.source, h, occurrence),
                source=src.source,
                start=start,
                end=end,
                text=body,
                text_hash=h,
                ordinal=ordinal,
                page=src.page_at(start),
                section=section,
                units=rel,
                section_changes=changes,
            )
        )
    return chunks


def _boundary_after(
    text: str, unit: Unit, following: Unit | None, length: int, cfg: ChunkingSettings
) -> bool:
    if length < cfg.min_chars or unit.kind == "heading":
        return False
    if following is not None and following.kind in ("code", "item") and text[unit.end - 1] == ":":
        return False  # "... is created by:" stays with its code, "three kinds:" with its list
    cut = zlib.crc32(text[unit.start : unit.end].encode())
    if unit.block_end:
        # Paragraph ends are natural boundaries; half of them cut early to keep chunks short.
        return length >= cfg.target_chars or cut % 2 == 0
    return cut % cfg.cut_every == 0


def _pieces(text: str, units: list[Unit], max_chars: int) -> list[Unit]:
    """Units, with any longer than ``max_chars`` cut at line breaks or spaces into pieces."""
    out: list[Unit] = []
    for u in units:
        if u.end - u.start <= max_chars:
            out.append(u)
            continue
        pos = u.start
        while pos < u.end:
            cut = u.end
            if cut - pos > max_chars:
                window = text[pos + 1 : pos + max_chars]
                at = window.rfind("\n") if u.kind != "text" else -1
                at = at if at > 0 else window.rfind(" ")
                cut = pos + 1 + at if at > 0 else pos + max_chars
            a, b = trim(text, pos, cut)
            if b > a:
                out.append(Unit(a, b, u.kind, u.block_end and cut == u.end))
            pos = cut
    return out
