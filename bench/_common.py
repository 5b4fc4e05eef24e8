"""Shared helpers of the benchmarks: real corpora, chunking, synthetic large stores, percentiles.

Not a benchmark itself. Corpora come from the shared eval folder (SciFact abstracts and
Cranfield abstracts); every document becomes one ``.txt`` file so answers can be verified.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EVAL = ROOT.parent / "shared" / "eval"
SCIFACT = EVAL / "scifact"
CRANFIELD = EVAL / "cranfield"


def _jsonl(path: Path) -> Iterator[dict]:  # type: ignore[type-arg]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def documents(which: str = "both") -> Iterator[tuple[str, str]]:
    """``(file name, text)`` of SciFact and/or Cranfield documents, interleaved."""
    sci = ((f"scifact/{d['_id']}.txt", d) for d in _jsonl(SCIFACT / "corpus.jsonl.gz"))
    cran = ((f"cranfield/{d['_id']}.txt", d) for d in _jsonl(CRANFIELD / "corpus.jsonl"))
    iters = {"both": [sci, cran], "scifact": [sci], "cranfield": [cran]}[which]
    while iters:
        for it in list(iters):
            item = next(it, None)
            if item is None:
                iters.remove(it)
                continue
            name, doc = item
            text = f"{doc.get('title', '').strip()}\n\n{doc['text'].strip()}\n"
            if doc["text"].strip():
                yield name, text


def queries(n: int) -> list[str]:
    """``n`` real questions, SciFact claims and Cranfield queries interleaved."""
    sci = [q["text"] for q in _jsonl(SCIFACT / "queries.jsonl")]
    cran = [q["text"] for q in _jsonl(CRANFIELD / "queries.jsonl")]
    out = [q for pair in zip(sci, cran, strict=False) for q in pair]
    return out[:n]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``."""
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1000:8.1f} ms"


@dataclass
class Corpus:
    """Source files written to disk and their chunks, in a fixed order."""

    sources: Path
    chunks: list  # list[core.types.Chunk]
    files: list[tuple[str, int, int, str]]  # (name, size, n_chunks, sha256 of the bytes)


def write_corpus(
    sources: Path,
    max_chunks: int | None = None,
    max_files: int | None = None,
    which: str = "both",
) -> Corpus:
    """Write documents as files and chunk them exactly as the indexer would."""
    from index.chunking import chunk_source
    from index.loaders import load_bytes

    sources.mkdir(parents=True, exist_ok=True)
    chunks: list = []
    files: list[tuple[str, int, int, str]] = []
    for name, text in documents(which):
        if max_chunks is not None and len(chunks) >= max_chunks:
            break
        if max_files is not None and len(files) >= max_files:
            break
        path = sources / name
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = text.encode("utf-8")
        path.write_bytes(raw)
        part = chunk_source(load_bytes(name, raw))
        chunks.extend(part)
        files.append((name, len(raw), len(part), hashlib.sha256(raw).hexdigest()))
    return Corpus(sources, chunks, files)


def real_vectors_and_sentences(embeddings, texts: list[str]):  # type: ignore[no-untyped-def]
    """Real chunk vectors and packed sentence vectors (as the indexer stores them), cached."""
    import json
    import tempfile

    from index import sentence_vectors
    from index.structure import split_units

    key = hashlib.sha256(
        "\0".join([str(getattr(embeddings, "name", "")), sentence_vectors.FORMAT, *texts]).encode()
    ).hexdigest()[:20]
    cache = Path(tempfile.gettempdir()) / "qa-bench-cache" / f"vectors-{key}"
    if cache.with_suffix(".npy").exists() and cache.with_suffix(".json").exists():
        blobs = json.loads(cache.with_suffix(".json").read_text())
        return np.load(cache.with_suffix(".npy")), blobs
    pooled = getattr(embeddings, "embed_with_sentences", None) or getattr(
        getattr(embeddings, "inner", None), "embed_with_sentences", None
    )
    spans = [[(u.start, u.end) for u in split_units(t)] for t in texts]
    vecs, arrays = pooled(texts, spans)
    vectors = np.asarray(vecs, dtype=np.float32)
    blobs = [sentence_vectors.encode(a) for a in arrays]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache.with_suffix(".npy"), vectors)
    cache.with_suffix(".json").write_text(json.dumps(blobs))
    return vectors, blobs


def synthetic_sentence_blobs(
    chunks: list, vectors: np.ndarray, real: list[str], seed: int = 1
) -> dict[str, str]:
    """Packed sentence vectors for every chunk: the real ones first, then noisy chunk vectors.

    Past the real ones, each sentence of a chunk gets the chunk's vector plus noise, so the
    answerer does exactly the work it does on a real store (decode, score) without embedding.
    """
    from index import sentence_vectors
    from index.structure import chunk_units

    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    for i, chunk in enumerate(chunks):
        if i < len(real):
            out[chunk.id] = real[i]
            continue
        n = len(chunk_units(chunk))
        rows = vectors[i] + rng.normal(0.0, 0.02, size=(n, vectors.shape[1]))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        out[chunk.id] = sentence_vectors.encode(rows.astype(np.float32))
    return out


def synthetic_vectors(base: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the real ``base`` vectors first, then perturbed copies of them."""
    rng = np.random.default_rng(seed)
    reps = base[np.arange(n) % len(base)].astype(np.float32)
    extra = np.arange(n) >= len(base)
    reps[extra] += rng.normal(0.0, sigma, size=(int(extra.sum()), base.shape[1])).astype(np.float32)
    return reps / np.linalg.norm(reps, axis=1, keepdims=True)


def build_store(
    store_dir: Path,
    corpus: Corpus,
    size: int,
    base_vectors: np.ndarray,
    model: str,
    sigma: float = 0.02,
    chroma_url: str | None = None,
    base_sentences: list[str] | None = None,
) -> dict[str, float]:
    """Write ``size`` chunks straight into a store; returns timings and how it was made.

    Chunk ``i`` is a real chunk of the corpus; past the corpus the chunks are repeated under new
    ids (same source file and offsets, so quotes still verify). Vector ``i`` is the real
    embedding of chunk ``i`` for ``i < len(base_vectors)``, otherwise a perturbed copy of a real
    vector (Gaussian noise of ``sigma`` per dimension, renormalised). Sentence vectors: see
    :func:`synthetic_sentence_blobs`.
    """
    from core.types import Chunk, SourceRecord
    from index import sentence_vectors
    from index.store import Store, make_client

    t0 = time.perf_counter()
    chunks: list = []
    distinct = len(corpus.chunks)
    for i in range(size):
        src = corpus.chunks[i % distinct]
        copy = i // distinct
        if copy:
            src = src.model_copy(
                update={"id": Chunk.make_id(src.source, src.text_hash, copy * 1000 + src.ordinal)}
            )
        chunks.append(src)
    vectors = synthetic_vectors(base_vectors, size, sigma)
    store = Store(make_client(store_dir, chroma_url), model, int(base_vectors.shape[1]))
    step = 5000
    blobs = synthetic_sentence_blobs(chunks, vectors, base_sentences or [])
    for i in range(0, size, step):
        part = chunks[i : i + step]
        store.put_sentence_vectors(
            {c.id: blobs[c.id] for c in part}, model, sentence_vectors.FORMAT
        )
        store.add_chunks(part, vectors[i : i + step].tolist())
    used = {c.source for c in chunks}
    now = time.time()
    # The indexer treats a record of another chunking pipeline as changed (re-chunks the file).
    import index.indexer

    pipeline = getattr(index.indexer, "PIPELINE_VERSION", "")
    records = [
        SourceRecord(source=name, content_hash=digest, size=nbytes, kind="text",
                     chunks=n, status="ok", indexed_at=now, pipeline=pipeline)
        for name, nbytes, n, digest in corpus.files
        if name in used
    ]  # fmt: skip
    store.put_sources(records)
    # Readers rebuild their keyword index in full from this entry (the chunks were not logged).
    store.log_change((), store.generation_state(), everything=True)
    return {
        "seconds": time.perf_counter() - t0,
        "distinct_texts": float(min(size, distinct)),
        "real_vectors": float(min(size, len(base_vectors))),
    }


def synthetic_store(sources: Path, store_dir: Path, size: int, real: int):  # type: ignore[no-untyped-def]
    """Write a corpus and a store of ``size`` chunks, ``real`` of them embedded for real.

    Returns:
        ``(corpus, size, n_real, embeddings)`` with the loaded model.
    """
    from index.embeddings import LocalEmbeddings, embedding_name

    corpus = write_corpus(sources, max_chunks=size)
    # Past the corpus's distinct chunks, build_store repeats texts under new ids.
    embeddings = LocalEmbeddings()
    n_real = min(real, size, len(corpus.chunks))
    base, sentences = real_vectors_and_sentences(
        embeddings, [c.text for c in corpus.chunks[:n_real]]
    )
    build_store(store_dir, corpus, size, base, embedding_name(embeddings), base_sentences=sentences)
    return corpus, size, n_real, embeddings


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """Run ``chroma run`` on a free loopback port with data in ``path``; yield its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cli = Path(sys.executable).parent / "chroma"
    log = (path.parent / f"{path.name}.log").open("wb")
    proc = subprocess.Popen(
        [str(cli), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Askers:
    """``n`` threads asking in a loop until stopped; latencies and errors per ask."""

    def __init__(self, service, questions: list[str], n: int) -> None:  # type: ignore[no-untyped-def]
        self.service = service
        self.questions = questions
        self.n = n
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.dropped_quotes = 0
        self.refused = 0
        self.first_error = ""

    def _run(self, worker: int, limit: int | None) -> None:
        i = worker
        done = 0
        while not self.stop.is_set() and (limit is None or done < limit):
            q = self.questions[i % len(self.questions)]
            i += self.n
            done += 1
            t0 = time.perf_counter()
            try:
                answer = self.service.ask(q)
            except Exception as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1
                    self.first_error = self.first_error or traceback.format_exc()
                continue
            elapsed = time.perf_counter() - t0
            with self.lock:
                self.latencies.append(elapsed)
                self.refused += answer.refused
                dropped = [w for w in answer.warnings if w.startswith("Dropped a quote")]
                if dropped or any(not c.verified for c in answer.citations):
                    self.dropped_quotes += 1

    def run(self, per_thread: int | None = None) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._run, args=(w, per_thread), daemon=True)
            for w in range(self.n)
        ]
        for t in threads:
            t.start()
        return threads

    def report(self, label: str) -> dict[str, float]:
        n = len(self.latencies)
        errors = sum(self.errors.values())
        p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
        print(
            f"{label}: {n} answers, {errors} errors {dict(self.errors) or ''}, "
            f"{self.refused} refused, {self.dropped_quotes} with dropped quotes\n"
            f"    p50 {ms(p50)}  p99 {ms(p99)}"
        )
        if self.first_error:
            print("    first error:\n" + self.first_error)
        return {"p50": p50, "p99": p99, "errors": errors}
