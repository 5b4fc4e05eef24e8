"""Types shared by indexing, retrieval, answering and the front ends: the contracts between layers.

LangChain ``Document`` objects appear only at the retriever edge (see ``qa.retrieval``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def text_hash(text: str) -> str:
    """Content hash used for embedding reuse and change detection."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


BlockKind = Literal["heading", "text", "item", "code", "row"]
UNIT_CODES: dict[str, str] = {"heading": "h", "text": "t", "item": "i", "code": "c", "row": "r"}
_UNIT_KINDS = {code: kind for kind, code in UNIT_CODES.items()}


@dataclass(frozen=True, slots=True)
class Block:
    """A structural piece of a source's text: ``text[start:end]``.

    ``text`` is prose (a paragraph, a definition, a quotation), ``item`` a list item,
    ``heading`` a title at ``level`` (1 = top), ``code`` a code block (its lines kept), ``row``
    a table row.
    """

    start: int
    end: int
    kind: BlockKind = "text"
    level: int = 0


@dataclass(frozen=True, slots=True)
class Unit:
    """The smallest quotable piece (a sentence, a heading, a code block, a table row).

    Offsets are relative to the text it was cut from (a chunk's, in :attr:`Chunk.units`).
    ``block_end`` marks the last unit of its block (a paragraph end).
    """

    start: int
    end: int
    kind: BlockKind = "text"
    block_end: bool = False


def encode_units(units: list[Unit]) -> str:
    """Compact form for Chroma metadata: ``start,end,kind[,.]`` joined by ``;``."""
    return ";".join(
        f"{u.start},{u.end},{UNIT_CODES[u.kind]}{'.' if u.block_end else ''}" for u in units
    )


def decode_units(blob: str) -> list[Unit] | None:
    """Inverse of :func:`encode_units`; ``None`` when absent or malformed."""
    if not blob:
        return None
    units = []
    try:
        for part in blob.split(";"):
            a, b, code = part.split(",")
            kind = _UNIT_KINDS[code.rstrip(".")]
            units.append(Unit(int(a), int(b), kind, code.endswith(".")))  # type: ignore[arg-type]
    except (ValueError, KeyError):
        return None
    return units


class Chunk(BaseModel):
    """A contiguous span of a source's extracted text: ``source_text[start:end] == text``."""

    id: str
    source: str = Field(description="Path relative to the sources folder, with '/' separators.")
    start: int
    end: int
    text: str
    text_hash: str
    ordinal: int = 0
    page: int | None = Field(None, description="1-based page for paged formats (PDF).")
    section: str = Field("", description="Heading path at the chunk's start, joined by ' › '.")
    units: list[Unit] = Field(default_factory=list, description="Quotable units, chunk-relative.")
    section_changes: list[tuple[int, str]] = Field(
        default_factory=list,
        description="(unit index, heading path) where a heading inside the chunk changes it.",
    )

    def section_of(self, unit_index: int) -> str:
        """The heading path in effect at unit ``unit_index`` of this chunk."""
        path = self.section
        for index, changed in self.section_changes:
            if index > unit_index:
                break
            path = changed
        return path

    def embed_text(self) -> str:
        """What the model and BM25 see: the section's titles, then the chunk's text."""
        return f"{self.section}\n\n{self.text}" if self.section else self.text

    @staticmethod
    def make_id(source: str, chunk_hash: str, occurrence: int) -> str:
        """Deterministic id: stable when the chunk's text is unchanged, wherever it moves."""
        key = f"{source}\0{chunk_hash}\0{occurrence}".encode()
        return hashlib.sha256(key).hexdigest()[:32]

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata stored with the chunk in Chroma."""
        meta: dict[str, str | int] = {
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "text_hash": self.text_hash,
            "ordinal": self.ordinal,
        }
        if self.page is not None:
            meta["page"] = self.page
        if self.section:
            meta["section"] = self.section
        if self.units:
            meta["units"] = encode_units(self.units)
        if self.section_changes:
            meta["section_changes"] = json.dumps(self.section_changes, ensure_ascii=False)
        return meta

    @classmethod
    def from_record(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        """Rebuild a chunk from a stored record."""
        page = meta.get("page")
        return cls(
            id=chunk_id,
            source=str(meta["source"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            text=text,
            text_hash=str(meta.get("text_hash") or text_hash(text)),
            ordinal=int(meta.get("ordinal", 0)),
            page=int(page) if page is not None else None,
            section=str(meta.get("section") or ""),
            units=decode_units(str(meta.get("units") or "")) or [],
            section_changes=_decode_changes(meta.get("section_changes")),
        )


def _decode_changes(blob: object) -> list[tuple[int, str]]:
    try:
        return [(int(i), str(path)) for i, path in json.loads(str(blob))] if blob else []
    except (ValueError, TypeError):
        return []


class ScoredChunk(BaseModel):
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    score: float
    rank: int
    dense: float | None = None
    lexical: float | None = None


class Citation(BaseModel):
    """A verbatim quote of a source, at exact character offsets of its extracted text."""

    n: int
    source: str
    quote: str
    start: int
    end: int
    score: float
    page: int | None = None
    section: str | None = Field(None, description="Heading path of the quoted passage.")
    chunk_id: str | None = None
    verified: bool = False


class PriorCitation(BaseModel):
    """A passage an earlier answer of the conversation cited (a ``Citation`` fits)."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    source: str
    start: int
    end: int
    quote: str = ""


class Turn(BaseModel):
    """An earlier turn of a conversation: its question and what its answer cited."""

    model_config = ConfigDict(extra="ignore")

    question: str
    citations: list[PriorCitation] = Field(default_factory=list)

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        """The turn an answer makes: its question and what it cited."""
        return cls.model_validate({"question": answer.question, "citations": answer.citations})


History = Sequence["str | Turn | dict[str, Any]"]


def as_turns(history: History | None) -> list[Turn]:
    """Earlier turns from plain question strings, ``Turn`` objects or their JSON form."""
    turns = []
    for item in history or []:
        if isinstance(item, Turn):
            turn = item
        elif isinstance(item, str):
            turn = Turn(question=item)
        else:
            turn = Turn.model_validate(item)
        if turn.question.strip():
            turns.append(turn)
    return turns


class Disagreement(BaseModel):
    """Two or more sources giving different accounts of the same point."""

    topic: str
    accounts: list[int] = Field(description="Citation numbers of the differing accounts.")


class Answer(BaseModel):
    """What the user sees. ``answer`` holds quotes, each followed by its marker ``[n]``."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    related: list[Citation] = Field(
        default_factory=list, description="Closest passages when refused: reading, not an answer."
    )
    disagreement: list[Disagreement] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)
    answerer: str = "extractive"
    confidence: float | None = Field(
        None,
        description="The answerability model's probability that the top quote answers"
        " (also on refusals: how close the best passage came).",
    )
    interpreted_as: str | None = Field(
        None,
        description="How a follow-up was read in the light of the conversation (None when the"
        " question was taken as it stands).",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON contract of ``qa ask --json``."""
        return self.model_dump(mode="json")


class FileCounts(BaseModel):
    """What an index run did to files."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0


class ChunkCounts(BaseModel):
    """What an index run did to chunks: embedded now, vectors reused, deleted."""

    embedded: int = 0
    reused: int = 0
    deleted: int = 0


class StoreCounts(BaseModel):
    """What the store holds after an index run."""

    sources: int = 0
    chunks: int = 0


class SourceFailure(BaseModel):
    """One file that could not be indexed, and why (a sentence the user can act on)."""

    source: str
    error: str


class IndexReport(BaseModel):
    """The contract of ``qa index --json``."""

    files: FileCounts = Field(default_factory=FileCounts)
    chunks: ChunkCounts = Field(default_factory=ChunkCounts)
    store: StoreCounts = Field(default_factory=StoreCounts)
    errors: list[SourceFailure] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when every file indexed, 2 when some failed and the rest were indexed."""
        return 2 if self.errors else 0


@dataclass(slots=True)
class SourceText:
    """The extracted text of one source, with page ranges for paged formats.

    Every citation's offsets refer to ``text``.
    """

    source: str
    text: str
    kind: str
    title: str = ""
    encoding: str = "utf-8"
    pages: list[tuple[int, int]] = field(default_factory=list)
    blocks: list[Block] = field(
        default_factory=list, metadata={"doc": "Structure from the loader; empty: from the text."}
    )

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for formats without pages.

        An offset in the blank line between two pages belongs to the page that follows it.
        """
        if not self.pages:
            return None
        for number, (_start, end) in enumerate(self.pages, 1):
            if offset < end:
                return number
        return len(self.pages)


SourceStatus = Literal["ok", "failed"]


class SourceRecord(BaseModel):
    """What the store remembers of one source file (written last for each file)."""

    model_config = ConfigDict(extra="ignore")

    source: str
    status: SourceStatus = "ok"
    content_hash: str | None = None
    size: int | None = None
    kind: str | None = None
    title: str | None = None
    encoding: str | None = None
    pages: int | None = None
    chunks: int = 0
    pipeline: str | None = None
    indexed_at: float | None = None
    origin: str | None = Field(None, description="host:folder of the instance that indexed it.")
    error: str | None = None

    def metadata(self) -> dict[str, str | int | float]:
        """Flat metadata for Chroma (which holds no None values)."""
        return self.model_dump(exclude_none=True)


REMOVED = "removed (re-index to drop)"  # a row's status: indexed, its file gone since


class SourceRow(BaseModel):
    """One line of ``qa sources``: a file in the folder and/or a source in the index."""

    source: str
    status: str = Field(description="ok, failed, not indexed, or removed (re-index to drop).")
    size: int | None = None
    kind: str | None = None
    title: str | None = None
    encoding: str | None = None
    pages: int | None = None
    chunks: int | None = None
    indexed_at: float | None = None
    content_hash: str | None = None
    pipeline: str | None = None
    origin: str | None = None
    error: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON contract of ``qa sources --json`` (absent fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)
