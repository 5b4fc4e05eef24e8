"""Benchmark concurrent questions while another process re-indexes (not a test).

N threads share one ``QAService`` (as the Streamlit app does) and ask real SciFact/Cranfield
questions. First without a writer (the baseline), then while ``qa``'s indexer runs in another
process on the same store, adding ``--new-files`` documents and editing ``--edit-files``. Reports
p50/p99 latency and errors (exceptions, and answers whose quotes failed verification).

The starting store is written straight through ``index.store.Store`` (real chunk texts and
source records; the first ``--real`` vectors are real embeddings, the others real vectors with
small noise), so only the re-index itself embeds.

    python bench/load.py [--threads 4] [--size 2000] [--new-files 20] [--edit-files 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ROOT,
    Askers,
    documents,
    ms,
    queries,
    synthetic_store,
)

_REINDEX = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from qa.service import QAService
from core.settings import Settings
svc = QAService(Settings(sources=Path(sys.argv[1]), store=Path(sys.argv[2]), lock_timeout=60))
svc.embeddings.embed_query("warm up")
t1 = time.perf_counter()
report = svc.index()
print(json.dumps({"load": t1 - t0, "index": time.perf_counter() - t1,
                  "report": report.model_dump(mode="json")}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="concurrent askers")
    parser.add_argument("--size", type=int, default=2000, help="chunks in the starting store")
    parser.add_argument("--real", type=int, default=128, help="chunks embedded for real")
    parser.add_argument("--baseline-asks", type=int, default=5, help="asks per thread, baseline")
    parser.add_argument("--new-files", type=int, default=20, help="files the re-index adds")
    parser.add_argument("--edit-files", type=int, default=10, help="files the re-index sees edited")
    args = parser.parse_args()

    from core.settings import Settings
    from qa.service import QAService

    with tempfile.TemporaryDirectory(prefix="qa-bench-load-") as tmp:
        root = Path(tmp)
        sources, store_dir = root / "sources", root / "store"
        corpus, size, n_real, embeddings = synthetic_store(sources, store_dir, args.size, args.real)
        print(
            f"store: {size} chunks from {len(corpus.files)} files ({n_real} real vectors, "
            "the rest perturbed copies)"
        )

        service = QAService(Settings(sources=sources, store=store_dir), embeddings=embeddings)
        questions = queries(300)
        service.ask(questions[-1])  # open the store, build the lexical cache before the threads

        quiet = Askers(service, questions, args.threads)
        t0 = time.perf_counter()
        for t in quiet.run(per_thread=args.baseline_asks):
            t.join()
        print(f"\nbaseline, {args.threads} threads, no writer ({time.perf_counter() - t0:.1f}s)")
        base_stats = quiet.report("  no re-index")

        # The writer's work: new files and edited files.
        used = {name for name, *_ in corpus.files}
        added = 0
        for name, text in documents():
            if added >= args.new_files:
                break
            if name not in used:
                (sources / name).parent.mkdir(parents=True, exist_ok=True)
                (sources / name).write_text(text, encoding="utf-8")
                added += 1
        for name, *_ in corpus.files[: args.edit_files]:
            path = sources / name
            path.write_text(
                path.read_text(encoding="utf-8") + "\nAn added closing sentence for the bench.\n",
                encoding="utf-8",
            )

        busy = Askers(service, questions[::-1], args.threads)
        threads = busy.run()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _REINDEX, str(sources), str(store_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        t_writer = time.perf_counter() - t0
        busy.stop.set()
        for t in threads:
            t.join(timeout=300)
        print(f"\nwith a re-index in another process ({t_writer:.1f}s, exit {proc.returncode})")
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
        else:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            rep = out["report"]
            print(
                f"  writer: model load {out['load']:.1f}s, index {out['index']:.1f}s, "
                f"files {rep['files']}, chunks {rep['chunks']}"
            )
        busy_stats = busy.report(f"  {args.threads} askers during the re-index")

        after = service.engine.search("An added closing sentence for the bench", 3, "bm25")
        seen = any("An added closing sentence" in h.chunk.text for h in after)
        print(f"  after the re-index the askers' service sees the edits: {seen}")

    print("\nsummary (goal: 0 errors)")
    print(f"  baseline   p50 {ms(base_stats['p50'])}  p99 {ms(base_stats['p99'])}"
          f"  errors {base_stats['errors']:.0f}")  # fmt: skip
    print(f"  re-index   p50 {ms(busy_stats['p50'])}  p99 {ms(busy_stats['p99'])}"
          f"  errors {busy_stats['errors']:.0f}"
          f"  ratio p50 {busy_stats['p50'] / base_stats['p50']:.2f}x")  # fmt: skip
    return 0 if busy_stats["errors"] == 0 and proc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
