"""Benchmark query latency (retrieve + extractive answer) at several store sizes (not a test).

For each size a store is written straight through ``index.store.Store`` (chunks, source records,
generation); then ``QAService.ask`` (hybrid retrieval + extractive answer + quote verification)
is timed on real SciFact/Cranfield questions, against the floor measured in the same run on the
same store: one query embedding plus one bare Chroma query (``collection.query``, k results).

Embedding 100k chunks for real is impossible here, so the chunk texts are real (SciFact +
Cranfield abstracts, chunked with ``index.chunking``; repeated under new ids past the ~15k
distinct chunks) but only the first ``--real`` vectors are real embeddings; the rest are those
vectors with small Gaussian noise. The output says so.

    python bench/query_latency.py [--sizes 1000,10000,100000] [--queries 60] [--real 512]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    build_store,
    chroma_server,
    ms,
    percentile,
    queries,
    real_vectors_and_sentences,
    write_corpus,
)


def _timed(fn, items: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
    return out


class CountingEmbeddings:
    """The model, counting texts embedded (query + sentences the answerer scores)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed_documents(texts)  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        self.texts += 1
        return self.inner.embed_query(text)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="chunk counts, comma-separated"
    )
    parser.add_argument("--queries", type=int, default=60, help="timed questions per size")
    parser.add_argument("--real", type=int, default=512, help="chunks embedded for real")
    parser.add_argument("--sigma", type=float, default=0.02, help="noise per dimension of copies")
    parser.add_argument("--k", type=int, default=6, help="passages per answer (QA_TOP_K)")
    parser.add_argument("--retriever", default="hybrid", choices=["dense", "bm25", "hybrid"])
    parser.add_argument(
        "--server", action="store_true", help="use a Chroma server (chroma run) per size"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    from core.settings import Settings
    from index.embeddings import LocalEmbeddings, embedding_name

    questions = queries(args.queries + 3)
    warm, timed = questions[:3], questions[3:]
    with tempfile.TemporaryDirectory(prefix="qa-bench-latency-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        corpus = write_corpus(root / "sources", max_chunks=max(sizes))
        print(
            f"corpus: {len(corpus.files)} files, {len(corpus.chunks)} distinct chunks "
            f"({time.perf_counter() - t0:.1f}s to write and chunk)"
        )
        embeddings = CountingEmbeddings(LocalEmbeddings())
        embeddings.embed_query("warm up")
        n_real = min(args.real, len(corpus.chunks))
        t0 = time.perf_counter()
        base, sentences = real_vectors_and_sentences(
            embeddings, [c.text for c in corpus.chunks[:n_real]]
        )
        t_embed = time.perf_counter() - t0
        if t_embed < 1.0:
            print(f"real embeddings: {n_real} chunks (from the cache of an earlier run)")
        else:
            print(f"real embeddings: {n_real} chunks in {t_embed:.1f}s ({n_real / t_embed:.1f}/s)")
        print(
            f"NOTE: vectors past the first {n_real} are real vectors plus N(0, {args.sigma}) "
            "noise per dimension (renormalised); texts past the distinct chunks are repeats "
            "under new ids.\n"
        )
        rows = []
        for size in sizes:
            store_dir = root / f"store-{size}"
            with ExitStack() as stack:
                url = None
                if args.server:
                    url = stack.enter_context(chroma_server(root / f"server-{size}"))
                    print(f"Chroma server at {url}")
                made = build_store(
                    store_dir, corpus, size, base, embedding_name(embeddings), args.sigma, url,
                    base_sentences=sentences,
                )  # fmt: skip
                settings = Settings(
                    sources=root / "sources",
                    store=store_dir,
                    top_k=args.k,
                    retriever=args.retriever,
                    chroma_url=url,
                )
                rows.append(_measure(settings, embeddings, made, size, warm, timed, args))
        _summary(rows)
    return 0


def _measure(settings, embeddings, made, size, warm, timed, args) -> dict:  # type: ignore[no-untyped-def, type-arg]
    from qa.service import QAService

    service = QAService(settings, embeddings=embeddings)
    t0 = time.perf_counter()
    service.ask(warm[0])  # opens Chroma, builds the lexical cache
    t_first = time.perf_counter() - t0
    for q in warm[1:]:
        service.ask(q)
    collection = service.store.chunks

    def floor(q: str) -> None:
        vec = embeddings.embed_query(q)
        collection.query(query_embeddings=[vec], n_results=args.k)

    # Interleaved per question, so the load of this shared machine hits all three alike.
    t_floor: list[float] = []
    t_embed_q: list[float] = []
    t_search: list[float] = []
    t_ask: list[float] = []
    answers: list[bool] = []
    embedded = 0
    for q in timed:
        # Retrieval and answering share one query embedding per question; forget it between
        # the timed calls so that each of them pays for its own.
        service.engine._query_vectors.clear()
        t_floor += _timed(floor, [q])
        t_embed_q += _timed(embeddings.embed_query, [q])
        t_search += _timed(lambda q: service.engine.search(q, args.k, args.retriever), [q])
        service.engine._query_vectors.clear()
        before = embeddings.texts
        t_ask += _timed(lambda q: answers.append(service.ask(q).refused), [q])
        embedded += embeddings.texts - before
    row = {
        "size": size,
        "build": made["seconds"],
        "distinct": int(made["distinct_texts"]),
        "first": t_first,
        "floor50": percentile(t_floor, 50),
        "floor99": percentile(t_floor, 99),
        "embed50": percentile(t_embed_q, 50),
        "search50": percentile(t_search, 50),
        "search99": percentile(t_search, 99),
        "ask50": percentile(t_ask, 50),
        "ask99": percentile(t_ask, 99),
        "refused": sum(answers),
        "embedded": embedded / len(timed),
    }
    print(
        f"size {size:>7} chunks ({row['distinct']} distinct texts), store written in "
        f"{row['build']:.1f}s, first ask (opens store, builds lexical cache) "
        f"{row['first']:.2f}s"
    )
    print(f"  floor (embed query + bare Chroma query k={args.k}):"
          f" p50 {ms(row['floor50'])}  p99 {ms(row['floor99'])}"
          f"  [embed alone p50 {ms(row['embed50'])}]")  # fmt: skip
    print(f"  search ({args.retriever}, k={args.k}):"
          f"                      p50 {ms(row['search50'])}  p99 {ms(row['search99'])}"
          f"  ratio p50 {row['search50'] / row['floor50']:.2f}x")  # fmt: skip
    print(f"  ask (retrieve + extractive answer):"
          f"            p50 {ms(row['ask50'])}  p99 {ms(row['ask99'])}"
          f"  ratio p50 {row['ask50'] / row['floor50']:.2f}x"
          f"  ({row['refused']}/{len(timed)} refused; {row['embedded']:.0f} texts embedded"
          " per ask)", flush=True)  # fmt: skip
    return row


def _summary(rows: list[dict]) -> None:  # type: ignore[type-arg]
    print("\nsummary (goal: ask p50 <= 50 ms at 100k)")
    print("   size   floor p50   search p50   ask p50   ask p99   ask/floor")
    for r in rows:
        print(
            f"{r['size']:>7} {r['floor50'] * 1000:10.1f} {r['search50'] * 1000:11.1f}"
            f" {r['ask50'] * 1000:9.1f} {r['ask99'] * 1000:9.1f}"
            f" {r['ask50'] / r['floor50']:9.2f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
