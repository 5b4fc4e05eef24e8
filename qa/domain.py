"""Domain types shared by indexing, retrieval, answering and the front ends.

LangChain ``Document`` objects appear only at the retriever edge (see ``qa.retrieval``).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


def text_hash(text: str) -> str:
    """Content hash used for embedding reuse and change detection."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        return meta

    @classmethod
    def from_record(cls, chunk_id: str, text: str, meta: dict) -> Chunk:  # type: ignore[type-arg]
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
        )


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
    chunk_id: str | None = None
    verified: bool = False


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

    def to_json_dict(self) -> dict:  # type: ignore[type-arg]
        """The JSON contract of ``qa ask --json``."""
        return self.model_dump(mode="json")


class IndexReport(BaseModel):
    """The contract of ``qa index --json``."""

    files: dict[str, int] = Field(
        default_factory=lambda: dict.fromkeys(
            ("added", "changed", "removed", "unchanged", "failed"), 0
        )
    )
    chunks: dict[str, int] = Field(
        default_factory=lambda: dict.fromkeys(("embedded", "reused", "deleted"), 0)
    )
    store: dict[str, int] = Field(default_factory=lambda: {"sources": 0, "chunks": 0})
    errors: list[dict[str, str]] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when every file indexed, 2 when some failed and the rest were indexed."""
        return 2 if self.errors else 0
