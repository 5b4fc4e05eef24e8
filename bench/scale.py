"""Benchmark what a small change costs in a large store, against a ten-file store (not a test).

Two stores are written the same way (real SciFact/Cranfield texts chunked as the indexer does;
the first ``--real`` vectors real, the rest noisy copies, see ``bench/query_latency.py``): one of
ten files, one of ``--size`` chunks. For each, in the same run:

- warm ask p50 over distinct real questions (the floor of the "first answer" figure);
- an unchanged re-index (``QAService.index``), wall time;
- a one-file edit (a sentence appended to one file) and its re-index, wall time;
- the first answer after that edit (the keyword index follows the change log here).

In embedded mode the instance that re-indexes also answers (the app's Re-index button). With
``--server`` the store lives in a ``chroma run`` server and a second instance, with its own
keyword index, asks the first question after another instance re-indexed.

    python bench/scale.py [--size 100000] [--server] [--queries 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    build_store,
    chroma_server,
    percentile,
    queries,
    real_vectors_and_sentences,
    write_corpus,
)


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _edit(sources: Path, n: int) -> None:
    """Append a sentence to one file (the same file in both stores: the first one written)."""
    target = sorted(p for p in sources.rglob("*.txt"))[0]
    text = target.read_text(encoding="utf-8")
    target.write_text(text + f"\nEdit number {n} added one sentence to this file.\n")


def _measure(label, root, corpus_args, size, base, sentences, model, embeddings, args, qs):  # type: ignore[no-untyped-def]
    from core.settings import Settings
    from qa.service import QAService

    sources = root / f"sources-{label}"
    corpus = write_corpus(sources, **corpus_args)
    size = size or len(corpus.chunks)
    with ExitStack() as stack:
        url = stack.enter_context(chroma_server(root / f"server-{label}")) if args.server else None
        store_a = root / f"store-{label}-a"
        t_build = _seconds(
            lambda: build_store(
                store_a, corpus, size, base, model, chroma_url=url, base_sentences=sentences
            )
        )
        writer = QAService(Settings(sources=sources, store=store_a, chroma_url=url), embeddings)
        reader = writer
        if args.server:  # a second instance: its own folder, its own keyword index
            store_b = root / f"store-{label}-b"
            reader = QAService(Settings(sources=sources, store=store_b, chroma_url=url), embeddings)
        t_cold = _seconds(lambda: reader.ask(qs[0]))  # opens the store, builds the keyword index
        writer.ask(qs[0])
        for q in qs[1:3]:
            reader.ask(q)
        warm = [_seconds(lambda q=q: reader.ask(q)) for q in qs[3 : 3 + args.queries]]
        unchanged = [_seconds(writer.index) for _ in range(args.repeat)]
        edits, firsts = [], []
        fresh = qs[3 + args.queries :]
        for n in range(args.repeat):
            _edit(sources, n)
            report = writer.index()
            assert report.files.changed == 1, report
            edits.append(report.seconds)
            firsts.append(_seconds(lambda n=n: reader.ask(fresh[n])))
        chunks = writer.store.count()
    row = {
        "label": label,
        "files": len(corpus.files),
        "chunks": chunks,
        "build": t_build,
        "cold": t_cold,
        "warm50": percentile(warm, 50),
        "warm99": percentile(warm, 99),
        "unchanged": statistics.median(unchanged),
        "edit": statistics.median(edits),
        "first": statistics.median(firsts),
    }
    print(
        f"{label}: {row['files']} files, {chunks} chunks (store written in {t_build:.1f} s)\n"
        f"  cold first ask {t_cold:.2f} s; warm ask p50 {row['warm50'] * 1e3:.1f} ms,"
        f" p99 {row['warm99'] * 1e3:.1f} ms\n"
        f"  unchanged re-index {row['unchanged']:.2f} s; one-file edit re-index"
        f" {row['edit']:.2f} s; first answer after the edit {row['first'] * 1e3:.1f} ms"
        f" ({row['first'] / row['warm50']:.2f}x warm)",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="chunks in the large store")
    parser.add_argument("--server", action="store_true", help="stores in a chroma run server")
    parser.add_argument("--queries", type=int, default=20, help="warm questions timed")
    parser.add_argument("--repeat", type=int, default=3, help="edits (and unchanged runs) timed")
    parser.add_argument("--real", type=int, default=512, help="chunks embedded for real")
    args = parser.parse_args()

    from index.embeddings import LocalEmbeddings, embedding_name

    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")
    qs = queries(3 + args.queries + args.repeat)
    with tempfile.TemporaryDirectory(prefix="qa-bench-scale-") as tmp:
        root = Path(tmp)
        probe = write_corpus(root / "probe", max_chunks=args.real)
        base, sentences = real_vectors_and_sentences(
            embeddings, [c.text for c in probe.chunks[: args.real]]
        )
        model = embedding_name(embeddings)
        mode = "server (second instance answers)" if args.server else "embedded"
        print(f"mode: {mode}; vectors past the first {len(base)} are noisy copies\n")
        small = _measure(
            "ten-file", root, {"max_files": 10}, None, base, sentences, model, embeddings, args, qs
        )
        large = _measure(
            f"{args.size // 1000}k",
            root,
            {"max_chunks": args.size},
            args.size,
            base,
            sentences,
            model,
            embeddings,
            args,
            qs,
        )
    print("\nfigure                          ten-file     large    ratio   goal")
    for name, key, goal in (
        ("one-file edit re-index (s)", "edit", "<= 2x"),
        ("unchanged re-index (s)", "unchanged", "<= 3x"),
        ("warm ask p50 (ms)", "warm50", ""),
    ):
        scale = 1e3 if "ms" in name else 1
        print(
            f"{name:30} {small[key] * scale:9.2f} {large[key] * scale:9.2f}"
            f" {large[key] / small[key]:7.2f}x   {goal}"
        )
    print(
        f"{'first answer after edit (ms)':30} {small['first'] * 1e3:9.1f}"
        f" {large['first'] * 1e3:9.1f} {large['first'] / large['warm50']:7.2f}x   <= 1.5x"
        " (large store's first answer / its warm ask p50)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
