"""Benchmark incremental re-indexing with the real embedding model (not a test).

Builds a corpus of Cranfield abstracts (read from the shared eval folder, one file each) in a
temporary folder, then times: a full index, an unchanged re-index, and a one-sentence edit.

    python bench/reindex.py [--files 300] [--corpus /work/shared/eval/cranfield/corpus.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "cranfield" / "corpus.jsonl"


def write_corpus(corpus: Path, folder: Path, n: int) -> int:
    """Write ``n`` documents as ``.txt`` files; return the bytes written."""
    total = 0
    with corpus.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            doc = json.loads(line)
            text = f"{doc.get('title', '').strip()}\n\n{doc['text'].strip()}\n"
            path = folder / f"doc_{doc['_id']}.txt"
            path.write_text(text, encoding="utf-8")
            total += len(text.encode())
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()

    from core.settings import Settings
    from index.embeddings import LocalEmbeddings
    from qa.service import QAService

    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        sources, store = Path(tmp) / "sources", Path(tmp) / "store"
        sources.mkdir()
        size = write_corpus(args.corpus, sources, args.files)
        t0 = time.perf_counter()
        embeddings = LocalEmbeddings()
        embeddings.embed_query("warm up")
        load = time.perf_counter() - t0
        service = QAService(Settings(sources=sources, store=store), embeddings=embeddings)
        _ = service.store  # open Chroma outside the timings

        t0 = time.perf_counter()
        full = service.index()
        t_full = time.perf_counter() - t0

        t0 = time.perf_counter()
        same = service.index()
        t_same = time.perf_counter() - t0

        # A one-sentence edit in the middle of the longest file.
        target = max(sources.iterdir(), key=lambda p: p.stat().st_size)
        text = target.read_text(encoding="utf-8")
        cut = text.find(" . ", len(text) // 2) + 3
        target.write_text(
            text[:cut] + "This sentence was added to measure an edit . " + text[cut:],
            encoding="utf-8",
        )
        t0 = time.perf_counter()
        edit = service.index()
        t_edit = time.perf_counter() - t0

    n_chunks = full.store.chunks
    print(
        f"corpus: {args.files} files from {args.corpus.name}, {size / 1e3:.0f} kB, "
        f"{n_chunks} chunks"
    )
    print(f"model load: {load:.1f} s")
    print(
        f"full index: {t_full:.1f} s ({full.chunks.embedded} chunks embedded, "
        f"{full.chunks.embedded / t_full:.1f} chunks/s)"
    )
    print(
        f"unchanged re-index: {t_same:.2f} s ({same.chunks.embedded} embedded, "
        f"{same.files.unchanged} files unchanged), {t_same / t_full:.1%} of full"
    )
    print(
        f"one-sentence edit ({target.name}): {t_edit:.2f} s, {edit.chunks.embedded} chunk(s) "
        f"embedded, {edit.chunks.reused} reused, {edit.chunks.deleted} deleted, "
        f"{t_edit / t_full:.1%} of full"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
