"""Benchmark indexing throughput: our pipeline vs bare encoding vs plain LangChain (not a test).

On the same Cranfield abstracts (one file each) and the same chunk texts, times:

* baseline: ``SentenceTransformer.encode`` of the chunk texts (the model alone, no store),
  measured before and after the other runs (the machine is shared; the mean is the baseline);
* ours: ``index_sources`` into a fresh embedded store (load, chunk, embed, sentence vectors
  pooled from the same pass, Chroma writes, source records, generation, lexical cache),
  split into time inside the model call and the rest; once with the PyTorch backend (the
  pipeline's overhead over the same model) and once with the default ONNX backend;
* LangChain: ``langchain_chroma.Chroma.from_documents`` of the same chunk texts with
  ``index.embeddings.LocalEmbeddings`` (same model object) as the LangChain ``Embeddings``.

    python bench/index_throughput.py [--files 300] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300, help="Cranfield abstracts to index")
    parser.add_argument("--batch-size", type=int, default=32, help="encode batch size")
    parser.add_argument("--skip-langchain", action="store_true", help="skip the LangChain run")
    args = parser.parse_args()

    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from index.embeddings import LocalEmbeddings
    from index.indexer import index_sources
    from index.store import Store, make_client

    class TimedEmbeddings(Embeddings):
        """The same model, with the time spent inside it counted."""

        def __init__(self, inner: LocalEmbeddings) -> None:
            self.inner = inner
            self.name = inner.name
            self.seconds = 0.0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            t0 = time.perf_counter()
            try:
                return self.inner.embed_documents(texts)
            finally:
                self.seconds += time.perf_counter() - t0

        def embed_query(self, text: str) -> list[float]:
            return self.inner.embed_query(text)

        def embed_with_sentences(self, texts, spans):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return self.inner.embed_with_sentences(texts, spans)
            finally:
                self.seconds += time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="qa-bench-index-") as tmp:
        root = Path(tmp)
        corpus = write_corpus(root / "sources", max_files=args.files, which="cranfield")
        texts = list(dict.fromkeys(c.text for c in corpus.chunks))
        n_chars = sum(len(t) for t in texts)
        print(
            f"corpus: {len(corpus.files)} Cranfield files, {len(corpus.chunks)} chunks, "
            f"{len(texts)} distinct texts, {n_chars / len(texts):.0f} chars/chunk on average"
        )
        embeddings = LocalEmbeddings(batch_size=args.batch_size, backend="torch")
        onnx = LocalEmbeddings(batch_size=args.batch_size, backend="onnx")
        onnx.embed_documents(texts[:8])  # warm up
        model = embeddings._model
        model.encode(texts[:8], batch_size=args.batch_size)  # warm up

        def bare() -> float:
            t0 = time.perf_counter()
            model.encode(
                texts,
                batch_size=args.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return time.perf_counter() - t0

        t_bare1 = bare()
        print(f"baseline encode #1:  {t_bare1:7.2f}s  {len(texts) / t_bare1:6.1f} chunks/s")

        def ours(model_backend: LocalEmbeddings) -> tuple[float, float]:
            timed = TimedEmbeddings(model_backend)
            store_dir = root / f"store-{model_backend.backend}"
            store = Store(make_client(store_dir), embeddings.name, embeddings.dimension)
            t0 = time.perf_counter()
            report = index_sources(root / "sources", store, timed, store_dir)
            seconds = time.perf_counter() - t0
            assert report.chunks.embedded == len(texts), report.chunks
            print(
                f"ours, {model_backend.backend:5} backend: {seconds:7.2f}s"
                f"  {len(texts) / seconds:6.1f} chunks/s  (model {timed.seconds:.2f}s,"
                f" everything else {seconds - timed.seconds:.2f}s)"
            )
            return seconds, timed.seconds

        t_ours, t_model = ours(embeddings)
        t_onnx, _ = ours(onnx)

        docs = [
            Document(page_content=c.text, metadata=c.metadata(), id=c.id)
            for c in {c.text: c for c in corpus.chunks}.values()
        ]
        t_lc = float("nan")
        if not args.skip_langchain:
            t0 = time.perf_counter()
            Chroma.from_documents(
                docs,
                embedding=embeddings,
                persist_directory=str(root / "langchain"),
                collection_name="bench",
                collection_metadata={"hnsw:space": "cosine"},
            )
            t_lc = time.perf_counter() - t0
            print(
                f"LangChain Chroma.from_documents (PyTorch model): {t_lc:7.2f}s"
                f"  {len(texts) / t_lc:6.1f} chunks/s"
            )

        t_bare2 = bare()
        print(f"baseline encode #2:  {t_bare2:7.2f}s  {len(texts) / t_bare2:6.1f} chunks/s")

    base = (t_bare1 + t_bare2) / 2
    print("\nsummary (goal: ours <= 1.10x the bare encode)")
    print(f"  baseline (mean of 2):        {base:7.2f}s  1.00x")
    print(f"  ours, PyTorch backend:       {t_ours:7.2f}s  {t_ours / base:.2f}x"
          f"  overhead {100 * (t_ours / base - 1):+.1f}%")  # fmt: skip
    print(f"  ours, model time only:       {t_model:7.2f}s  {t_model / base:.2f}x")
    print(f"  ours, ONNX backend (default): {t_onnx:6.2f}s  {t_onnx / base:.2f}x")
    print(f"  LangChain from_documents:    {t_lc:7.2f}s  {t_lc / base:.2f}x"
          f"  (ours / LangChain {t_ours / t_lc:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
