"""Shared fixtures: no network, a fresh store per test, the real model loaded once per session."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from core.settings import Settings
from index.embeddings import LocalEmbeddings
from qa.service import QAService

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "sources"
SHARED_EVAL = ROOT.parent / "shared" / "eval"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    # Loopback (the app server, a stand-in LLM server, a local Chroma) and Unix sockets only.
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else ""
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network access blocked in tests: {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def fake_embeddings() -> Embeddings:
    return DeterministicFakeEmbedding(size=32)


@pytest.fixture(scope="session")
def real_embeddings() -> Embeddings:
    from index.embeddings import LocalEmbeddings

    return LocalEmbeddings()


@pytest.fixture
def sources_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., QAService]]:
    def make(sources: Path, embeddings: Embeddings, **kw: object) -> QAService:
        if not isinstance(embeddings, LocalEmbeddings):
            # Fake vectors make the answerability model's confidence meaningless.
            kw.setdefault("min_confidence", 0.0)
        settings = Settings(sources=sources, store=tmp_path / "store", **kw)  # type: ignore[arg-type]
        return QAService(settings, embeddings=embeddings)

    yield make
