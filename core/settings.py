"""The one settings object, read from ``QA_*`` environment variables at the edges (CLI, app).

Every knob lives here. The ones a user sets are top-level (``QA_TOP_K``); tuning knobs are
grouped (``chunking``, ``indexing``, ``retrieval``, ``answering``, ``llm``) and set as
``QA_<GROUP>_<NAME>``, e.g. ``QA_ANSWERING_MIN_SUPPORT=0.4`` or ``QA_LLM_MODEL=llama3.1``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

RetrieverMode = Literal["dense", "bm25", "hybrid"]


class ChunkingSettings(BaseModel):
    """Chunk sizes in characters; ~1,000 characters is about 200 MiniLM word pieces.

    Changing them re-chunks every file at the next index run (unchanged chunk texts still reuse
    their vectors).
    """

    model_config = {"frozen": True}

    min_chars: int = Field(350, ge=1)
    target_chars: int = Field(700, ge=1)
    max_chars: int = Field(1100, ge=1)
    cut_every: int = Field(
        4, ge=1, description="About one sentence in this many closes a chunk past min_chars."
    )


class IndexingSettings(BaseModel):
    """Batch sizes of an index run."""

    model_config = {"frozen": True}

    group_chunks: int = Field(
        256, ge=1, description="Files are written in groups of about this many chunks."
    )
    embed_batch: int = Field(64, ge=1, description="Chunks embedded per model call.")
    store_batch: int = Field(2000, ge=1, description="Records per Chroma call.")


class RetrievalSettings(BaseModel):
    """How hybrid search fuses the dense and BM25 rankings.

    The defaults (score fusion, equal weights, scale set by the top 200 of each side) were
    chosen with ``qa eval retrieval`` on Cranfield; on it they beat plain RRF, BM25 and dense.
    """

    model_config = {"frozen": True}

    fusion: Literal["score", "rrf"] = "score"
    dense_weight: float = Field(0.5, ge=0)
    lexical_weight: float = Field(0.5, ge=0)
    rrf_k: int = Field(60, ge=1)
    fetch_k: int = Field(200, ge=1, description="Depth of each ranking before fusion.")


class AnsweringSettings(BaseModel):
    """Weights and thresholds of the extractive answerer (see ``qa eval answers``)."""

    model_config = {"frozen": True}

    dense_weight: float = 0.6
    coverage_weight: float = 0.4
    rank_weight: float = 0.05
    min_support: float = 0.35
    min_coverage: float = 0.34
    strong_dense: float = 0.42
    max_quotes: int = Field(3, ge=1)
    pool: int = Field(
        16, ge=1, description="Leading candidate sentences the answerability model scores."
    )
    rerank_top: int = Field(
        4, ge=0, description="Leading sentences embedded on their own to re-score them."
    )
    keep_ratio: float = 0.85
    other_source_ratio: float = 0.55
    tie_ratio: float = 0.97
    related: int = Field(3, ge=0, description="Closest passages shown with a refusal.")
    definition_weight: float = Field(
        0.15,
        ge=0,
        description="Bonus for a sentence of the kind the question asks for: one that defines"
        ' the term a "what is X?" asks about, one that names a person for "who?".',
    )
    summary_points: int = Field(
        8, ge=1, description="Most sentences a summary of a long document quotes (at least 3)."
    )
    near_weight: float = Field(
        0.15,
        ge=0,
        description="Bonus for a follow-up's sentences close after the passage the previous"
        " answer cited (less before it); the same is taken off repeating that passage.",
    )
    near_window: int = Field(
        1200, ge=1, description="Characters from a cited passage within which the bonus fades."
    )


class LLMSettings(BaseModel):
    """Where and which chat model ``QA_ANSWERER=llm`` uses."""

    model_config = {"frozen": True}

    provider: Literal["openai", "ollama"] = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(60.0, gt=0)


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``QA_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="QA_",
        env_file=None,
        extra="ignore",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
    )

    sources: Path = Field(Path("sources"), description="Folder holding the documents.")
    store: Path = Field(Path(".qa"), description="Folder holding the index (Chroma + lexical).")
    chroma_url: str | None = Field(None, description="Chroma server URL; unset means embedded.")
    retriever: RetrieverMode = "hybrid"
    top_k: int = Field(8, ge=1, le=50, description="Passages handed to the answerer.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are refused.")
    max_text_mb: float = Field(
        10.0,
        gt=0,
        description="Files whose extracted text is longer (in millions of characters)"
        " are refused: a small file can expand (a ZIP bomb in a DOCX).",
    )
    lock_timeout: float = Field(
        0.0, ge=0, description="Seconds a second indexer waits for the lock before giving up."
    )
    answerer: Literal["extractive", "llm"] = "extractive"
    min_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Refuse when the best quote's chance of answering (the answerability"
        " model's `confidence`) is below this; unset uses the model's fitted threshold.",
    )
    answerability_model: Path | None = Field(
        None,
        description="A model file written by `qa train answerability`; unset uses the shipped one.",
    )
    embedding_batch_size: int = Field(32, ge=1)
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="Runtime for the embedding model; both give the same vectors."
    )
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    indexing: IndexingSettings = Field(default_factory=IndexingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)

    @property
    def max_bytes(self) -> int:
        """``max_file_mb`` in bytes."""
        return int(self.max_file_mb * 1_000_000)

    @property
    def max_text_chars(self) -> int:
        """``max_text_mb`` in characters."""
        return int(self.max_text_mb * 1_000_000)

    def cache_key(self) -> str:
        """A key that differs whenever any setting does, the secret included, without holding it.

        ``model_dump_json`` masks the API key, so two keys would otherwise share one entry.
        """
        secret = self.llm.api_key.get_secret_value() if self.llm.api_key else ""
        digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
        return f"{self.model_dump_json()}#{digest}"
