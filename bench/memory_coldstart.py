"""Benchmark cold start and peak memory of a process that answers (not a test).

Writes a store of ``--size`` chunks straight through ``index.store.Store`` (real chunk texts;
the first ``--real`` vectors are real embeddings, the others real vectors with small noise),
then starts fresh Python processes that open it and answer. Each reports the time from process
start (before the interpreter starts) to its first answer, split into imports, model load,
store open, first answer; and peak RSS (``VmHWM``) after ``--asks`` more answers. Run 1 has
no lexical cache on disk (it builds it); run 2 finds it (the usual app restart); the baseline is
a process that only imports Python and numpy.

    python bench/memory_coldstart.py [--size 10000] [--asks 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, queries, synthetic_store

_CHILD = """
import json, sys, time
t_start = float(sys.argv[-1])
t0 = time.time()
from index.embeddings import LocalEmbeddings
from qa.service import QAService
from core.settings import Settings
t1 = time.time()
svc = QAService(Settings(sources=sys.argv[1], store=sys.argv[2]))
svc.embeddings.embed_query("warm up")
t2 = time.time()
svc.store.count()
t3 = time.time()
qs = json.loads(sys.argv[3])
first = svc.ask(qs[0])
t4 = time.time()
def hwm_mb():
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve (the parent's peak).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
rss_first = hwm_mb()
for q in qs[1:]:
    svc.ask(q)
t5 = time.time()
print(json.dumps({
    "interpreter": t0 - t_start, "imports": t1 - t0, "model": t2 - t1, "store": t3 - t2,
    "first_answer": t4 - t3, "to_first_answer": t4 - t_start, "more_asks": t5 - t4,
    "rss_first_mb": rss_first,
    "rss_peak_mb": hwm_mb(),
    "refused": first.refused,
}))
"""

_BASELINE = """
import json, sys, time
import numpy
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
print(json.dumps({"to_ready": time.time() - float(sys.argv[-1]),
                  "rss_peak_mb": int(hwm.split()[1]) / 1024}))
"""


def _child(code: str, *argv: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    # The start time is taken last, just before the process is created.
    out = subprocess.run(
        [sys.executable, "-c", code, *argv, str(time.time())],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="chunks in the store")
    parser.add_argument("--real", type=int, default=128, help="chunks embedded for real")
    parser.add_argument("--asks", type=int, default=10, help="answers after the first one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="qa-bench-mem-") as tmp:
        root = Path(tmp)
        sources, store_dir = root / "sources", root / "store"
        _, size, n_real, embeddings = synthetic_store(sources, store_dir, args.size, args.real)
        del embeddings
        print(f"store: {size} chunks ({n_real} real vectors, the rest perturbed copies)\n")
        qs = json.dumps(queries(args.asks + 1))

        base_run = _child(_BASELINE)
        print(
            f"baseline (python + numpy): ready {base_run['to_ready']:.2f}s, "
            f"peak RSS {base_run['rss_peak_mb']:.0f} MB"
        )
        runs = []
        for label in ("run 1, no lexical cache", "run 2, lexical cache on disk"):
            r = _child(_CHILD, str(sources), str(store_dir), qs)
            runs.append(r)
            print(
                f"{label}: first answer {r['to_first_answer']:.2f}s after process start "
                f"(interpreter {r['interpreter']:.2f}, imports {r['imports']:.2f}, model "
                f"{r['model']:.2f}, store {r['store']:.2f}, first ask {r['first_answer']:.2f}); "
                f"RSS at first answer {r['rss_first_mb']:.0f} MB, peak after {args.asks} more "
                f"asks ({r['more_asks']:.1f}s) {r['rss_peak_mb']:.0f} MB"
            )
    print(f"\nsummary at {size} chunks")
    for label, r in zip(("cold (no cache)", "restart (cache)"), runs, strict=True):
        print(
            f"  {label}: to first answer {r['to_first_answer']:.2f}s "
            f"({r['to_first_answer'] / base_run['to_ready']:.1f}x the bare interpreter), "
            f"peak RSS {r['rss_peak_mb']:.0f} MB "
            f"({r['rss_peak_mb'] / base_run['rss_peak_mb']:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
