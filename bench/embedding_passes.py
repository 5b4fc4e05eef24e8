"""Benchmark how texts are grouped into model passes (not a test).

A pass is padded to its longest text. ``index.embeddings.passes`` starts a new pass when a text
is more than ``PASS_SPLIT_TOKENS`` shorter than the pass's longest; the baseline, measured in
the same run and interleaved with it, pads every text of a batch to the batch's longest.

- question path: groups of 4 real sentences (what the answerer re-embeds per question);
- indexing path: groups of 256 real chunks (an index run's group), batch size 32.

    python bench/embedding_passes.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_corpus


def _timed(embeddings, texts: list[str], split: int) -> float:  # type: ignore[no-untyped-def]
    import index.embeddings as emb

    original = emb.PASS_SPLIT_TOKENS
    emb.passes.__defaults__ = (split,)
    try:
        t0 = time.perf_counter()
        embeddings.embed_documents(texts)
        return time.perf_counter() - t0
    finally:
        emb.passes.__defaults__ = (original,)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="groups of 4 sentences timed")
    parser.add_argument("--groups", type=int, default=3, help="groups of 256 chunks timed")
    args = parser.parse_args()

    import tempfile

    from index.embeddings import PASS_SPLIT_TOKENS, LocalEmbeddings
    from index.structure import split_units

    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp), max_chunks=3000)
    chunks = [c.text for c in corpus.chunks]
    sentences = [c[u.start : u.end] for c in chunks[:600] for u in split_units(c)]
    rng = random.Random(0)
    never = 10**9
    print(f"split at {PASS_SPLIT_TOKENS} tokens of padding; baseline: one pass per batch\n")
    for label, pool, size, rounds in (
        ("4 sentences (a question's re-scoring)", sentences, 4, args.rounds),
        ("256 chunks (an index group)", chunks, 256, args.groups),
    ):
        split_t, whole_t = [], []
        for _ in range(rounds):
            texts = rng.sample(pool, size)
            # Both ways on the same texts, in random order, so load drifts hit both alike.
            ways = [(split_t, PASS_SPLIT_TOKENS), (whole_t, never)]
            rng.shuffle(ways)
            for times, split in ways:
                times.append(_timed(embeddings, texts, split))
        a, b = statistics.median(whole_t), statistics.median(split_t)
        ma, mb = statistics.mean(whole_t), statistics.mean(split_t)
        print(
            f"{label}, {rounds} rounds: one pass per batch median {a * 1e3:.1f} ms, mean"
            f" {ma * 1e3:.1f} ms; split median {b * 1e3:.1f} ms, mean {mb * 1e3:.1f} ms;"
            f" ratio {b / a:.2f}x (median), {mb / ma:.2f}x (mean)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
