"""Score retrieval: nDCG@10, recall@10/100, MRR@10 and latency on a BEIR-layout data set.

The corpus is written as one text file per document (``title`` + blank line + ``text``) into a
``sources`` folder inside the evaluation store, and indexed through ``QAService`` like any
user's folder, so a second run embeds nothing. Long documents are chunked like any source; a
document's score is that of its best chunk.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from core.errors import ConfigError
from core.progress import ProgressCallback
from core.settings import Settings
from core.types import IndexReport
from qa.retrieval import Mode, SearchEngine
from qa.service import QAService

METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# Chunks fetched per query at first; doubled until 100 distinct documents are ranked.
CHUNK_DEPTH = 300
DOC_DEPTH = 100


# data set ----------------------------------------------------------------------------------------
@dataclass
class BeirDataset:
    """A BEIR-layout data set: corpus, queries and graded relevance judgments."""

    name: str
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def judged_queries(self) -> list[str]:
        """Ids of queries with at least one relevant document (gain > 0), in file order."""
        return [q for q in self.queries if any(g > 0 for g in self.qrels.get(q, {}).values())]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Read ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]`` and ``qrels/<split>.tsv``.

    Args:
        folder: The data set folder.
        split: Which qrels file to use.

    Returns:
        The data set; judgments with gain <= 0 are kept but count as non-relevant.

    Raises:
        ConfigError: a file is missing or malformed.

    """

    def find(stem: str) -> Path:
        for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
            if (folder / name).is_file():
                return folder / name
        raise ConfigError(f"{folder} has no {stem}.jsonl or {stem}.jsonl.gz (BEIR layout).")

    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise ConfigError(f"{folder} has no qrels/{split}.tsv (BEIR layout expected).")
    try:
        corpus = {
            str(d["_id"]): (str(d.get("title") or ""), str(d.get("text") or ""))
            for d in _jsonl(find("corpus"))
        }
        queries = {str(q["_id"]): str(q.get("text") or "") for q in _jsonl(find("queries"))}
        qrels: dict[str, dict[str, int]] = {}
        with qrels_path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3 or (n == 0 and not _is_int(parts[2])):
                    continue  # header or blank line
                qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"Cannot read the data set in {folder}: {exc}") from exc
    return BeirDataset(folder.resolve().name, corpus, queries, qrels)


def _is_int(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# metrics -----------------------------------------------------------------------------------------
def ndcg_at_k(ranking: Sequence[str], gains: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (linear gain, log2 discount); gains <= 0 count as zero.

    Args:
        ranking: Document ids, best first.
        gains: Judged gain per document id.
        k: Cut-off.

    Returns:
        A value in [0, 1]; 0 when nothing is relevant.

    """
    dcg = sum(max(gains.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], gains: dict[str, int], k: int) -> float:
    """Share of the relevant documents (gain > 0) found in the top ``k``."""
    relevant = {d for d, g in gains.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], gains: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0 if none)."""
    for i, d in enumerate(ranking[:k]):
        if gains.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def score_ranking(ranking: Sequence[str], gains: dict[str, int]) -> dict[str, float]:
    """All metrics of one ranked list."""
    return {
        "ndcg@10": ndcg_at_k(ranking, gains, 10),
        "recall@10": recall_at_k(ranking, gains, 10),
        "recall@100": recall_at_k(ranking, gains, 100),
        "mrr@10": mrr_at_k(ranking, gains, 10),
    }


def dedupe_documents(sources: Iterable[str], to_doc: Callable[[str], str | None]) -> list[str]:
    """Document ids in order of first (best) chunk; each document once."""
    seen: dict[str, None] = {}
    for source in sources:
        doc = to_doc(source)
        if doc is not None and doc not in seen:
            seen[doc] = None
    return list(seen)


# corpus as sources -------------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,100}")


def source_name(doc_id: str) -> str:
    """Return a safe, reversible file name for a document id."""
    if _PLAIN.fullmatch(doc_id):
        return f"d_{doc_id}.txt"
    return f"h_{doc_id.encode('utf-8').hex()}.txt"


def doc_id_of(source: str) -> str | None:
    """Return the document id of a source written by :func:`write_sources`, else None."""
    stem = source.rsplit("/", 1)[-1].removesuffix(".txt")
    if stem.startswith("d_"):
        return stem[2:]
    if stem.startswith("h_"):
        try:
            return bytes.fromhex(stem[2:]).decode("utf-8")
        except ValueError:
            return None
    return None


def write_sources(data: BeirDataset, folder: Path) -> int:
    """Mirror the corpus as text files; unchanged files are left alone, extra ones removed.

    Returns:
        Number of documents with text (empty ones cannot be retrieved and are skipped).

    """
    folder.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for doc_id, (title, text) in data.corpus.items():
        body = "\n\n".join(p.strip() for p in (title, text) if p.strip())
        if not body:
            continue
        name = source_name(doc_id)
        wanted.add(name)
        path = folder / name
        content = (body + "\n").encode("utf-8")
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
    for path in folder.iterdir():
        if path.is_file() and path.name not in wanted:
            path.unlink()
    return len(wanted)


def default_store(dataset: Path) -> Path:
    """``<QA_STORE or .qa>/eval/<name>-<hash of the absolute path>``."""
    resolved = dataset.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return Path(Settings().store) / "eval" / f"{resolved.name}-{digest}"


# evaluation --------------------------------------------------------------------------------------
def rank_documents(engine: SearchEngine, query: str, mode: Mode, total_chunks: int) -> list[str]:
    """Top 100 document ids for ``query``: fetch chunks, deepening until 100 documents show up."""
    depth = CHUNK_DEPTH
    while True:
        hits = engine.search(query, depth, mode)
        docs = dedupe_documents((h.chunk.source for h in hits), doc_id_of)
        if len(docs) >= DOC_DEPTH or len(hits) < depth or depth >= total_chunks:
            return docs[:DOC_DEPTH]
        depth *= 2


def evaluate(
    engine: SearchEngine, data: BeirDataset, modes: Sequence[Mode], total_chunks: int
) -> dict[str, dict[str, float]]:
    """Mean metrics and median latency per retrieval mode over the judged queries."""
    out: dict[str, dict[str, float]] = {}
    qids = data.judged_queries
    for mode in modes:
        sums = dict.fromkeys(METRICS, 0.0)
        latencies: list[float] = []
        for qid in qids:
            t0 = time.perf_counter()
            ranking = rank_documents(engine, data.queries[qid], mode, total_chunks)
            latencies.append((time.perf_counter() - t0) * 1000)
            for name, value in score_ranking(ranking, data.qrels[qid]).items():
                sums[name] += value
        n = max(len(qids), 1)
        result = {name: round(total / n, 4) for name, total in sums.items()}
        result["latency_ms_p50"] = round(statistics.median(latencies), 1) if latencies else 0.0
        out[mode] = result
    return out


def run(
    dataset: Path,
    store_dir: Path,
    *,
    modes: Sequence[Mode] = ("bm25", "dense", "hybrid"),
    progress: ProgressCallback | None = None,
    embeddings: Embeddings | None = None,
) -> tuple[dict[str, Any], IndexReport]:
    """Index the data set into ``store_dir`` (incrementally) and score every mode.

    Args:
        dataset: The BEIR-layout folder.
        store_dir: The evaluation's own store; its ``sources`` folder mirrors the corpus.
        modes: Retrievers to score.
        progress: Indexing progress.
        embeddings: The model (the packaged one by default; tests pass a fake).

    Returns:
        The JSON report and the indexing report.

    """
    data = load_beir(dataset)
    sources = store_dir / "sources"
    write_sources(data, sources)
    # The evaluation keeps its own embedded store, even when QA_CHROMA_URL points at a server.
    settings = Settings(sources=sources, store=store_dir, chroma_url=None)
    service = QAService(settings, embeddings=embeddings)
    report = service.index(progress=progress)
    methods = evaluate(service.engine, data, modes, service.store.count())
    result = {
        "dataset": data.name,
        "docs": len(data.corpus),
        "queries": len(data.judged_queries),
        "methods": methods,
    }
    return result, report


def format_table(result: dict[str, Any]) -> str:
    """Render the plain-text table printed without ``--json``."""
    cols = [*METRICS, "latency_ms_p50"]
    head = f"{'method':<8}" + "".join(f"{c:>16}" for c in cols)
    lines = [
        f"{result['dataset']}: {result['docs']} documents, {result['queries']} judged queries",
        head,
        "-" * len(head),
    ]
    for mode, m in result["methods"].items():
        cells = "".join(
            f"{m[c]:>16.1f}" if c == "latency_ms_p50" else f"{m[c]:>16.4f}" for c in cols
        )
        lines.append(f"{mode:<8}{cells}")
    return "\n".join(lines)
