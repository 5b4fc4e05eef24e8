"""Benchmark a kept server-mode store (not a test): ask latency, cold start, memory, and
concurrent askers during a re-index, for one instance folder that asks and re-indexes.

Reads a store written by ``bench/scale.py --server --keep DIR`` (its ``server-<label>`` data,
``sources-<label>`` files and the second instance's folder ``store-<label>-b``, whose keyword
index the first run built). The floor is the same figures for the kept ten-file store, measured
in the same run.

    python bench/scale.py --server --size 1000000 --keep DIR   # writes the stores (~80 min)
    python bench/server_scale.py --keep DIR --label 1000k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import chroma_server, percentile, queries
from memory_coldstart import _CHILD, _child
from scale import _concurrent


def _measure(root: Path, label: str, embeddings, qs: list[str], args) -> dict:  # type: ignore[no-untyped-def]
    from core.settings import Settings
    from qa.service import QAService

    sources, store = root / f"sources-{label}", root / f"store-{label}-b"
    with chroma_server(root / f"server-{label}") as url:
        service = QAService(Settings(sources=sources, store=store, chroma_url=url), embeddings)
        t0 = time.perf_counter()
        service.ask(qs[0])
        first = time.perf_counter() - t0
        chunks = service.store.count()
        cold = _child(_CHILD, str(sources), str(store), json.dumps(qs[-11:]),
                      env={"QA_CHROMA_URL": url})  # fmt: skip
        for q in qs[1:3]:
            service.ask(q)
        warm = []
        for q in qs[3 : 3 + args.queries]:
            t0 = time.perf_counter()
            service.ask(q)
            warm.append(time.perf_counter() - t0)
        conc = _concurrent(service, sources, store, url, qs[3:], args)
    row = {"label": label, "chunks": chunks, "first": first, "cold": cold["to_first_answer"],
           "rss": cold["rss_peak_mb"], "warm50": percentile(warm, 50),
           "warm99": percentile(warm, 99), "conc": conc}  # fmt: skip
    print(
        f"{label}: {chunks} chunks; this instance's first ask {first:.2f} s; a fresh process"
        f" {row['cold']:.2f} s to first answer, peak RSS {row['rss']:.0f} MB; warm ask p50"
        f" {row['warm50'] * 1e3:.1f} ms, p99 {row['warm99'] * 1e3:.1f} ms",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True, help="folder of bench/scale.py --keep")
    parser.add_argument("--label", default="1000k", help="the large store's label")
    parser.add_argument("--queries", type=int, default=30, help="warm questions timed")
    parser.add_argument("--concurrent", type=int, default=8, help="askers at once")
    parser.add_argument("--concurrent-asks", type=int, default=5, help="asks each, no re-index")
    parser.add_argument("--edit-files", type=int, default=10, help="files the re-index sees edited")
    args = parser.parse_args()

    from index.embeddings import LocalEmbeddings

    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")
    qs = queries(300)[100:]  # not the questions bench/scale.py asked (answers are cached)
    small = _measure(args.keep, "ten-file", embeddings, qs, args)
    large = _measure(args.keep, args.label, embeddings, qs, args)
    print(f"\n{'figure':44} {'ten-file':>9} {args.label:>9} {'ratio':>8}   goal")
    for name, key, scale in (
        ("warm ask p50 (ms)", "warm50", 1e3),
        ("warm ask p99 (ms)", "warm99", 1e3),
        ("fresh process to first answer (s)", "cold", 1),
        ("fresh process peak RSS (MB)", "rss", 1),
    ):
        a, b = small[key] * scale, large[key] * scale
        goal = "<= 100 ms" if key == "warm50" else ""
        print(f"{name:44} {a:9.2f} {b:9.2f} {b / a:7.2f}x   {goal}")
    for which in ("alone", "during"):
        for stat in ("p50", "p99"):
            a, b = small["conc"][which][stat] * 1e3, large["conc"][which][stat] * 1e3
            print(f"{which + ' re-index: 8 askers ' + stat + ' (ms)':44} {a:9.2f} {b:9.2f}"
                  f" {b / a:7.2f}x")  # fmt: skip
    errors = large["conc"]["during"]["errors"]
    print(f"{'errors during the re-index':44} {small['conc']['during']['errors']:9.0f}"
          f" {errors:9.0f}              0 ({large['conc']['n_during']} answers)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
