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

from core.settings import ChunkingSettings
from core.types import Chunk, SourceText, text_hash
from index.text import Span, split_sentences


def chunk_source(src: SourceText, config: ChunkingSettings | None = None) -> list[Chunk]:
    """Cut a source's text into chunks that keep their character offsets."""
    cfg = config or ChunkingSettings()
    spans: list[tuple[int, int]] = []
    cur_start: int | None = None
    cur_end = 0
    for sent in _pieces(split_sentences(src.text), cfg.max_chars):
        if cur_start is not None and sent.end - cur_start > cfg.max_chars:
            spans.append((cur_start, cur_end))
            cur_start = None
        if cur_start is None:
            cur_start = sent.start
        cur_end = sent.end
        length = cur_end - cur_start
        if _boundary_after(sent, length, cfg):
            spans.append((cur_start, cur_end))
            cur_start = None
    if cur_start is not None:
        spans.append((cur_start, cur_end))

    chunks: list[Chunk] = []
    seen: Counter[str] = Counter()
    for ordinal, (start, end) in enumerate(spans):
        body = src.text[start:end]
        h = text_hash(body)
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
            )
        )
    return chunks


def _boundary_after(sent: Span, length: int, cfg: ChunkingSettings) -> bool:
    if length < cfg.min_chars:
        return False
    cut = zlib.crc32(sent.text.encode())
    if sent.paragraph_end:
        # Paragraph ends are natural boundaries; half of them cut early to keep chunks short.
        return length >= cfg.target_chars or cut % 2 == 0
    return cut % cfg.cut_every == 0


def _pieces(sentences: list[Span], max_chars: int) -> list[Span]:
    """Sentences, with any longer than ``max_chars`` cut at whitespace into pieces."""
    out: list[Span] = []
    for s in sentences:
        if len(s.text) <= max_chars:
            out.append(s)
            continue
        pos = 0
        while pos < len(s.text):
            cut = len(s.text)
            if cut - pos > max_chars:
                space = s.text.rfind(" ", pos + 1, pos + max_chars)
                cut = space if space > pos else pos + max_chars
            piece = s.text[pos:cut]
            lead = len(piece) - len(piece.lstrip())
            piece = piece.strip()
            if piece:
                a = s.start + pos + lead
                out.append(Span(a, a + len(piece), piece, s.paragraph_end and cut == len(s.text)))
            pos = cut
    return out
