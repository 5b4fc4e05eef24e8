"""Benchmark what a small change costs in a large store, against a ten-file store (not a test).

Two stores are written the same way (real SciFact/Cranfield texts chunked as the indexer does;
the first ``--real`` vectors real, the rest noisy copies, see ``bench/query_latency.py``): one of
ten files, one of ``--size`` chunks. For each, in the same run:

- cold start: a fresh process (with the keyword index already on disk, as at an app restart)
  from its start to its first answer, and its peak memory (VmHWM) after 10 more answers;
- warm ask p50/p99 over distinct real questions (the floor of the "first answer" figure);
- an unchanged re-index (``QAService.index``), wall time;
- a one-file edit (a sentence appended to one file) and its re-index, wall time;
- the first answer after that edit (the keyword index follows the change log here);
- ``--concurrent`` askers sharing one instance, first alone, then while another process
  re-indexes ``--edit-files`` edited files: answers, errors (exceptions, unverified quotes),
  p50/p99.

In embedded mode the instance that re-indexes also answers (the app's Re-index button). With
``--server`` the store lives in a ``chroma run`` server and a second instance, with its own
keyword index, asks (and serves the concurrent askers) while another instance re-indexes.
``--keep DIR`` keeps the stores (and the server's data) in DIR, so a later run skips writing
them: a million-chunk store takes about an hour to write.

    python bench/scale.py [--size 100000] [--server] [--queries 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ROOT,
    Askers,
    build_store,
    chroma_server,
    percentile,
    queries,
    real_vectors_and_sentences,
    write_corpus,
)
from memory_coldstart import _CHILD, _child

# Another process re-indexes the store while the askers ask.
_REINDEX = """
import json, sys
from pathlib import Path
from core.settings import Settings
from qa.service import QAService
svc = QAService(Settings(sources=Path(sys.argv[1]), store=Path(sys.argv[2]), lock_timeout=120))
report = svc.index()
print(json.dumps({"seconds": report.seconds, "files": report.files.model_dump(),
                  "chunks": report.chunks.model_dump()}))
"""


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _edit(path: Path, n: int) -> None:
    """Append a sentence to one file."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + f"\nEdit number {n} at {time.time():.0f} added one sentence.\n")


def _written(root: Path, label: str, corpus_args, size, base, sentences, model, url):  # type: ignore[no-untyped-def]
    """The sources and the first instance's store, written now or found from a kept run."""
    sources, store_a = root / f"sources-{label}", root / f"store-{label}-a"
    done = root / f"{label}.json"
    if done.exists():
        return sources, store_a, json.loads(done.read_text())
    corpus = write_corpus(sources, **corpus_args)
    size = size or len(corpus.chunks)
    t_build = _seconds(
        lambda: build_store(
            store_a, corpus, size, base, model, chroma_url=url, base_sentences=sentences
        )
    )
    info = {"files": len(corpus.files), "build": t_build}
    done.write_text(json.dumps(info))
    return sources, store_a, info


def _concurrent(service, sources: Path, store: Path, url, qs: list[str], args) -> dict:  # type: ignore[no-untyped-def]
    """``args.concurrent`` askers alone, then while another process re-indexes edited files."""
    quiet = Askers(service, qs, args.concurrent)
    for t in quiet.run(per_thread=args.concurrent_asks):
        t.join()
    alone = quiet.report(f"    {args.concurrent} askers, no re-index")
    files = sorted(sources.rglob("*.txt"))
    for n, path in enumerate(files[-args.edit_files :]):
        _edit(path, n)
    busy = Askers(service, qs[::-1], args.concurrent)
    threads = busy.run()
    env = {**os.environ, **({"QA_CHROMA_URL": url} if url else {})}
    proc = subprocess.run(
        [sys.executable, "-c", _REINDEX, str(sources), str(store)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600, env=env, check=False,
    )  # fmt: skip
    busy.stop.set()
    for t in threads:
        t.join(timeout=600)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        writer = {"seconds": float("nan")}
    else:
        writer = json.loads(proc.stdout.strip().splitlines()[-1])
    during = busy.report(
        f"    {args.concurrent} askers while another process re-indexes {args.edit_files}"
        f" edited files ({writer['seconds']:.1f} s, exit {proc.returncode})"
    )
    return {"alone": alone, "during": during, "n_during": len(busy.latencies),
            "writer_ok": proc.returncode == 0}  # fmt: skip


def _measure(label, root, corpus_args, size, base, sentences, model, embeddings, args, qs):  # type: ignore[no-untyped-def]
    from core.settings import Settings
    from qa.service import QAService

    with ExitStack() as stack:
        url = stack.enter_context(chroma_server(root / f"server-{label}")) if args.server else None
        sources, store_a, info = _written(
            root, label, corpus_args, size, base, sentences, model, url
        )
        writer = QAService(Settings(sources=sources, store=store_a, chroma_url=url), embeddings)
        reader = writer
        store_r = store_a
        if args.server:  # a second instance: its own folder, its own keyword index
            store_r = root / f"store-{label}-b"
            reader = QAService(Settings(sources=sources, store=store_r, chroma_url=url), embeddings)
        t_open = _seconds(lambda: reader.ask(qs[0]))  # opens the store, syncs the keyword index
        writer.ask(qs[0])
        # A fresh process with the keyword index on disk (the usual app restart).
        cold = _child(
            _CHILD, str(sources), str(store_r), json.dumps(qs[-11:]),
            env={"QA_CHROMA_URL": url} if url else None,
        )  # fmt: skip
        for q in qs[1:3]:
            reader.ask(q)
        warm = [_seconds(lambda q=q: reader.ask(q)) for q in qs[3 : 3 + args.queries]]
        unchanged = [_seconds(writer.index) for _ in range(args.repeat)]
        # The least a run that notices edits by stat must do: list the folder, stat every file.
        floor = statistics.median(_seconds(lambda: _list_and_stat(sources)) for _ in range(3))
        edits, firsts = [], []
        fresh = qs[3 + args.queries :]
        target = sorted(sources.rglob("*.txt"))[0]
        for n in range(args.repeat):
            _edit(target, n)
            edits.append(_seconds(lambda: _check_one(writer.index())))
            firsts.append(_seconds(lambda n=n: reader.ask(fresh[n])))
        # The same two runs as `qa index` from a shell: a new process each (imports, model).
        cli_same = _cli_index(sources, store_a, url)
        _edit(target, args.repeat)
        cli_edit = _cli_index(sources, store_a, url)
        conc = _concurrent(reader, sources, store_a, url, qs[3:], args) if args.concurrent else None
        chunks = writer.store.count()
    row = {
        "label": label,
        "files": info["files"],
        "chunks": chunks,
        "open": t_open,
        "cold": cold["to_first_answer"],
        "rss": cold["rss_peak_mb"],
        "warm50": percentile(warm, 50),
        "warm99": percentile(warm, 99),
        "unchanged": statistics.median(unchanged),
        "edit": statistics.median(edits),
        "first": statistics.median(firsts),
        "cli_same": cli_same,
        "floor": floor,
        "cli_edit": cli_edit,
        "conc": conc,
    }
    print(
        f"{label}: {row['files']} files, {chunks} chunks (store written in {info['build']:.1f} s)\n"
        f"  first ask of this instance {t_open:.2f} s; a fresh process: first answer"
        f" {row['cold']:.2f} s after its start, peak RSS {row['rss']:.0f} MB\n"
        f"  warm ask p50 {row['warm50'] * 1e3:.1f} ms, p99 {row['warm99'] * 1e3:.1f} ms\n"
        f"  unchanged re-index {row['unchanged']:.2f} s; one-file edit re-index"
        f" {row['edit']:.2f} s; first answer after the edit {row['first'] * 1e3:.1f} ms"
        f" ({row['first'] / row['warm50']:.2f}x warm)",
        flush=True,
    )
    return row


def _list_and_stat(folder: Path) -> int:
    """Walk ``folder`` with ``os.scandir`` and ``stat`` every file (as ``git status`` does)."""
    n, stack = 0, [str(folder)]
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat()
                    n += 1
    return n


def _cli_index(sources: Path, store: Path, url: str | None) -> float:
    """Wall time of ``qa index`` in a new process (what the issue's figures were taken with)."""
    env = {**os.environ, **({"QA_CHROMA_URL": url} if url else {})}
    cmd = [sys.executable, "-m", "frontends.cli.main", "index", "--sources", str(sources)]
    t0 = time.perf_counter()
    subprocess.run(
        [*cmd, "--store", str(store), "--json"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=3600,
    )  # fmt: skip
    return time.perf_counter() - t0


def _check_one(report) -> None:  # type: ignore[no-untyped-def]
    assert report.files.changed == 1, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="chunks in the large store")
    parser.add_argument("--server", action="store_true", help="stores in a chroma run server")
    parser.add_argument("--queries", type=int, default=20, help="warm questions timed")
    parser.add_argument("--repeat", type=int, default=5, help="edits (and unchanged runs) timed")
    parser.add_argument("--real", type=int, default=512, help="chunks embedded for real")
    parser.add_argument("--concurrent", type=int, default=8, help="askers at once (0: skip)")
    parser.add_argument("--concurrent-asks", type=int, default=5, help="asks each, no re-index")
    parser.add_argument("--edit-files", type=int, default=10, help="files the re-index sees edited")
    parser.add_argument("--keep", type=Path, help="keep the stores here and reuse them")
    args = parser.parse_args()

    from index.embeddings import LocalEmbeddings, embedding_name

    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")
    qs = queries(300)
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            root = args.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-bench-scale-")))
        probe = write_corpus(root / "probe", max_chunks=args.real)
        base, sentences = real_vectors_and_sentences(
            embeddings, [c.text for c in probe.chunks[: args.real]]
        )
        model = embedding_name(embeddings)
        mode = "server (a second instance answers)" if args.server else "embedded"
        print(f"mode: {mode}; vectors past the first {len(base)} are noisy copies\n")
        rows = [
            _measure("ten-file", root, {"max_files": 10}, None, base, sentences, model,
                     embeddings, args, qs),
            _measure(f"{args.size // 1000}k", root, {"max_chunks": args.size}, args.size, base,
                     sentences, model, embeddings, args, qs),
        ]  # fmt: skip
    _table(*rows)
    return 0


def _table(small: dict, large: dict) -> None:  # type: ignore[type-arg]
    print(f"\n{'figure':44} {'ten-file':>9} {large['label']:>9} {'ratio':>8}   goal")

    def line(name: str, a: float, b: float, ratio: float, goal: str = "") -> None:
        print(f"{name:44} {a:9.2f} {b:9.2f} {ratio:7.2f}x   {goal}")

    for name, key, goal in (
        ("one-file edit re-index (s)", "edit", "<= 2x"),
        ("unchanged re-index (s)", "unchanged", "<= 3x"),
        ("  floor: list the folder, stat every file (s)", "floor", ""),
        ("`qa index` wall, one-file edit (s)", "cli_edit", "<= 2x"),
        ("`qa index` wall, unchanged (s)", "cli_same", "<= 3x"),
        ("warm ask p50 (ms)", "warm50", ""),
        ("warm ask p99 (ms)", "warm99", ""),
        ("fresh process to first answer (s)", "cold", ""),
        ("fresh process peak RSS (MB)", "rss", ""),
    ):
        scale = 1e3 if "ms" in name else 1
        line(name, small[key] * scale, large[key] * scale, large[key] / small[key], goal)
    line(
        "first answer after edit (ms) / its warm p50",
        small["first"] * 1e3, large["first"] * 1e3, large["first"] / large["warm50"], "<= 1.5x",
    )  # fmt: skip
    if small["conc"] and large["conc"]:
        for which in ("alone", "during"):
            for stat in ("p50", "p99"):
                name = f"{which} re-index: concurrent ask {stat} (ms)"
                a, b = small["conc"][which][stat], large["conc"][which][stat]
                line(name, a * 1e3, b * 1e3, b / a)
        errors = large["conc"]["during"]["errors"]
        print(
            f"{'errors during the re-index':44} {small['conc']['during']['errors']:9.0f}"
            f" {errors:9.0f}              0 ({large['conc']['n_during']} answers)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
