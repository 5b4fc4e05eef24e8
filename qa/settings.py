"""The one settings object, read from ``QA_*`` environment variables at the edges (CLI, app)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``QA_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=None, extra="ignore")

    sources: Path = Field(Path("sources"), description="Folder holding the documents.")
    store: Path = Field(Path(".qa"), description="Folder holding the index (Chroma + lexical).")
    chroma_url: str | None = Field(None, description="Chroma server URL; unset means embedded.")
    retriever: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(6, ge=1, le=50, description="Passages handed to the answerer.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are refused.")
    lock_timeout: float = Field(
        0.0, ge=0, description="Seconds a second indexer waits for the lock before giving up."
    )
    answerer: Literal["extractive", "llm"] = "extractive"
    llm_provider: Literal["openai", "ollama"] = "openai"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 60.0
    embedding_batch_size: int = Field(32, ge=1)
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="Runtime for the embedding model; both give the same vectors."
    )
