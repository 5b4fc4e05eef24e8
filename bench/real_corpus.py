"""Benchmark a real collection of ≥ 30k chunks from Debian documentation packages (not a test).

``apt-get download`` fetches the packages in PACKAGES (PostgreSQL HTML manual, Linux kernel
Documentation/ text); ``dpkg-deb -x`` unpacks them (no install) into a cache outside the
repository, where the files the loaders support are kept under safe names (``.gz`` unpacked;
``.rst`` and suffix-less files become ``.txt``). A second run reuses the cache. Files are taken
in turn from each package until ``--max-chunks`` chunks (counted with ``index.loaders`` and
``index.chunking``); the chosen files are copied into a temporary sources folder (the edit below
must not touch the cache) and indexed for real into a fresh store. Every figure is printed
next to its floor, measured in the same run: the bare encode of the same chunk texts (batches of
64, longest first, sentence pooling as the indexer does), embed query + bare Chroma query, etc.
The encode floor runs before and after the index (the machine is shared; the floor is the mean)
and ``embed_documents`` once more, interleaved: ~2.5x the index time on top (1.7x --no-plain).

    python bench/real_corpus.py [--max-chunks 30000] [--cache ~/.cache/qa-bench/debian-docs]
    python bench/real_corpus.py --count-only      # files and chunks of the whole collection
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile

# Package -> the folder inside it that is collected.
PACKAGES = {
    "postgresql-doc-15": "usr/share/doc/postgresql-doc-15/html",
    "linux-doc-6.1": "usr/share/doc/linux-doc-6.1/Documentation",
}
WARM = ["What is a tablespace?", "What is a kernel module?", "How do I list all databases?"]
QUESTIONS = [
    "How do I create an index concurrently?", "What does VACUUM do?",
    "What is the default value of max_connections?", "How do I change the password of a role?",
    "What is a partial index?", "How does MVCC work in PostgreSQL?",
    "What does the shared_buffers parameter control?",
    "How do I restore a database from a pg_dump archive?",
    "What isolation levels does PostgreSQL support?", "How do I declare a foreign key?",
    "What is write-ahead logging?", "How do I set up streaming replication?",
    "What does EXPLAIN ANALYZE show?", "How do I create a function in PL/pgSQL?",
    "What is the difference between json and jsonb?",
    "How do I set CPU affinity for an interrupt?", "What is RCU?",
    "How do I enable dynamic debug messages?", "What does the OOM killer do?",
    "How do I mount the cgroup v2 filesystem?", "What are huge pages used for?",
    "How do I submit a patch to the kernel?", "What does the swappiness sysctl control?",
    "How do I use ftrace to trace function calls?", "What is a spinlock?",
    "How do I configure a bonding interface?", "What does the noexec mount option do?",
    "How do I load a kernel module with parameters?", "What is the purpose of the device tree?",
    "How does the kernel handle page faults?",
]  # fmt: skip
MARKER = "Benchmark edit marker: the zebra-crossing constant of this document is 4217."
MARKER_Q = "What is the zebra-crossing constant?"


def sh(*cmd: str, cwd: Path | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch(cache: Path) -> dict[str, str]:
    """Download and unpack each package once; return its version."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for pkg, sub in PACKAGES.items():
        deb = max(debs.glob(f"{pkg}_*.deb"), default=None)
        if deb is None:
            policy = sh("apt-cache", "policy", pkg)
            if "Candidate:" not in policy or "Candidate: (none)" in policy:
                sh("apt-get", "update")
            print(f"downloading {pkg} ...", flush=True)
            sh("apt-get", "download", pkg, cwd=debs)
            deb = max(debs.glob(f"{pkg}_*.deb"))
        versions[pkg] = sh("dpkg-deb", "-f", str(deb), "Version").strip()
        done = cache / f"{pkg}.done"
        if not done.exists() or done.read_text() != deb.name:
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                sh("dpkg-deb", "-x", str(deb), tmp)
                shutil.rmtree(cache / "sources" / pkg, ignore_errors=True)
                convert(Path(tmp) / sub, cache / "sources" / pkg)
            done.write_text(deb.name)
    return versions


def convert(src: Path, out: Path) -> None:
    """Copy the files the loaders read, gunzipped, ``.rst``/no suffix as ``.txt``, safe names."""
    from index.loaders import SUPPORTED_SUFFIXES

    for path in sorted(src.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(src).as_posix()
        packed = rel.endswith(".gz")
        rel = rel.removesuffix(".gz")
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in ("", ".rst"):
            rel += ".txt"
        elif suffix not in SUPPORTED_SUFFIXES:
            continue
        name = re.sub(r"(^|/)\.", r"\1_", re.sub(r"[^A-Za-z0-9._/-]", "_", rel))
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        dest.write_bytes(gzip.decompress(data) if packed else data)


def count(root: Path, max_chunks: int):  # type: ignore[no-untyped-def]
    """Files in turn from each package until ``max_chunks`` (0: all): (file, n), chunks, errors."""
    from core.errors import SourceError
    from index.chunking import chunk_source
    from index.loaders import load_bytes, relative_name

    lists = [sorted(p for p in (root / pkg).rglob("*") if p.is_file()) for pkg in PACKAGES]
    order = [p for i in range(max(map(len, lists))) for li in lists if i < len(li) for p in [li[i]]]
    chosen, chunks, errors = [], [], []  # type: ignore[var-annotated]
    for path in order:
        if max_chunks and len(chunks) >= max_chunks:
            break
        rel = relative_name(path, root)
        try:
            part = chunk_source(load_bytes(rel, path.read_bytes()))
        except SourceError as exc:
            part = []
            errors.append((rel, str(exc)))
        chosen.append((path, len(part)))
        chunks += part
    return chosen, chunks, errors


def du(folder: Path) -> int:
    return sum(
        os.lstat(os.path.join(d, f)).st_blocks * 512 for d, _, fs in os.walk(folder) for f in fs
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def encode(embeddings, chunks, plain=False):  # type: ignore[no-untyped-def]
    """The indexer's model calls alone: distinct texts, longest (in tokens) first, 64 per call.

    Returns the seconds of ``embed_with_sentences`` (what the indexer calls) and, when
    ``plain``, of ``embed_documents`` on the same batch right after it (interleaved).
    """
    from index.sentence_vectors import unit_spans

    todo = list({c.text_hash: c for c in chunks}.values())
    tokens = getattr(embeddings, "token_lengths", None)  # as index.indexer._apply orders them
    texts = [c.embed_text() for c in todo]
    lengths = tokens(texts) if tokens is not None else [len(t) for t in texts]
    todo = [todo[i] for i in sorted(range(len(todo)), key=lambda i: -lengths[i])]
    pooled = bare = 0.0
    for i in range(0, len(todo), 64):
        texts = [c.embed_text() for c in todo[i : i + 64]]
        spans = [unit_spans(c) for c in todo[i : i + 64]]
        pooled += timed(embeddings.embed_with_sentences, texts, spans)[0]
        bare += timed(embeddings.embed_documents, texts)[0] if plain else float("nan")
    return pooled, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-chunks", type=int, default=30000, help="0: the whole collection")
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/qa-bench/debian-docs"))
    parser.add_argument("--count-only", action="store_true", help="count files and chunks only")
    parser.add_argument(
        "--no-plain", dest="plain", action="store_false", help="no embed_documents floor"
    )
    args = parser.parse_args()
    cache = args.cache.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    versions = fetch(cache)
    print("packages:", ", ".join(f"{p} {v}" for p, v in versions.items()), f"(cache {cache})")
    t_count, (chosen, counted, errors) = timed(
        count, cache / "sources", 0 if args.count_only else args.max_chunks
    )
    for pkg in PACKAGES:
        mine = [n for p, n in chosen if p.relative_to(cache / "sources").parts[0] == pkg]
        print(f"  {pkg}: {len(mine)} files, {sum(mine)} chunks")
    print(f"collection: {len(chosen)} files, {len(counted)} chunks, {len(errors)} loader errors "
          f"({t_count:.0f}s to load and chunk)")  # fmt: skip
    for rel, why in errors:
        print(f"  loader error: {rel}: {why}")
    if args.count_only:
        need = next(
            (i for i, n in enumerate(accumulate(n for _, n in chosen)) if n >= args.max_chunks), -1
        )
        print(f"--max-chunks {args.max_chunks} takes the first {need + 1} files")
        return 0

    from core.settings import Settings
    from index.embeddings import LocalEmbeddings
    from index.loaders import discover, relative_name
    from qa.service import QAService

    with tempfile.TemporaryDirectory(prefix="qa-bench-real-") as tmp:
        sources, store = Path(tmp) / "sources", Path(tmp) / "store"
        for path, _ in chosen:
            dest = sources / path.relative_to(cache / "sources")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        size = sum(p.stat().st_size for p, _ in chosen)
        embeddings = LocalEmbeddings()
        embeddings.embed_query("warm up")
        rss_model = rss_mb()
        t_before = encode(embeddings, counted)[0]  # the floor, measured before and after
        rss_floor = rss_mb()
        settings = Settings(sources=sources, store=store)
        service = QAService(settings, embeddings=embeddings)
        _ = service.store  # open Chroma outside the timings
        print(f"indexing {len(chosen)} files ({size / 1e6:.1f} MB) ...", flush=True)
        t_index, full = timed(service.index)
        rss_index = rss_mb()
        print(f"index report: files {full.files}, chunks {full.chunks}, store {full.store}")
        for err in full.errors:
            print(f"  index error: {err.source}: {err.error}")
        chunks = list(service.store.iter_chunks())
        t_after, t_plain = encode(embeddings, chunks, plain=args.plain)
        t_pool = (t_before + t_after) / 2
        disk, dim = du(store), embeddings.dimension
        parts = {
            p.name: du(p) if p.is_dir() else p.lstat().st_blocks * 512 for p in store.iterdir()
        }
        raw = sum(dim * 4 + len(c.text.encode()) + len(c.units) * (dim + 4) for c in chunks)

        # Questions: ask against embed query + bare Chroma query, interleaved per question.
        collection, k = service.store.chunks, settings.top_k
        vectors = service.engine._query_vectors

        def floor(q: str) -> None:
            collection.query(query_embeddings=[embeddings.embed_query(q)], n_results=k)

        for q in WARM:
            service.ask(q)
        t_floor, t_ask, refused = [], [], 0
        for q in QUESTIONS:
            vectors.clear()
            t_floor.append(timed(floor, q)[0])
            vectors.clear()
            t, answer = timed(service.ask, q)
            t_ask.append(t)
            refused += answer.refused

        t_stat0 = time.perf_counter()
        for path in discover(sources)[0]:
            path.stat()
        t_stat = time.perf_counter() - t_stat0
        t_same, same = timed(service.index)

        # One-file edit: a sentence appended to the first text file (else the first file).
        files = sorted(p for p in sources.rglob("*") if p.is_file())
        target = next((p for p in files if p.suffix == ".txt"), files[0])
        rel = relative_name(target, sources)
        before = {c.id for c in service.store.source_chunks(rel)}
        text = target.read_text(encoding="utf-8", errors="replace")
        if target.suffix == ".txt":
            text = text.rstrip("\n") + f"\n\n{MARKER}\n"
        else:
            cut = text.lower().rfind("</body>")
            text = text[:cut] + f"<p>{MARKER}</p>" + text[cut:] if cut >= 0 else text + MARKER
        target.write_text(text, encoding="utf-8")
        t_edit, edit = timed(service.index)
        new = [c for c in service.store.source_chunks(rel) if c.id not in before]
        t_edit_floor = encode(embeddings, new)[0]
        vectors.clear()
        t_first, first = timed(service.ask, MARKER_Q)
        t_first_floor = timed(floor, MARKER_Q)[0]
        cited = any(c.source == rel for c in first.citations)
        rss_end = rss_mb()

    n = full.chunks.embedded
    print(f"\nreal collection: {len(chosen)} files, {full.store.chunks} chunks stored, {n} "
          f"embedded ({len(chunks)} read back, {len({c.text_hash for c in chunks})} distinct "
          f"texts), {len(full.errors)} index errors, {size / 1e6:.1f} MB of sources")  # fmt: skip
    print(f"unchanged re-index: {same.chunks.embedded} embedded, {same.files.unchanged} files "
          f"unchanged; edit of {rel}: {edit.chunks.embedded} embedded, {edit.chunks.reused} "
          f"reused, {edit.chunks.deleted} deleted; first answer cites it: {cited}; "
          f"{refused}/{len(QUESTIONS)} questions refused")  # fmt: skip
    print(f"bare encode (pooled): {t_before:.1f}s before the index, {t_after:.1f}s after "
          "(the floor is their mean; the machine is shared)")  # fmt: skip
    print("store:", ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(parts.items())))
    rows = [
        ("full index", t_index, t_pool, "s", "bare encode, sentence pooling (as the indexer)"),
        ("full index", t_index, t_plain, "s", "bare encode, embed_documents only"),
        ("sentence pooling", t_after, t_plain, "s", "embed_documents, same batches"),
        ("throughput", n / t_index, n / t_pool, "chunks/s", "bare encode, pooled"),
        ("unchanged re-index", t_same, t_stat, "s", "discover() + stat every file"),
        ("one-file edit re-index", t_edit, t_edit_floor, "s", "encode of its new chunks"),
        ("first ask after edit", t_first, t_first_floor, "s", "embed query + Chroma query"),
        ("ask p50", percentile(t_ask, 50), percentile(t_floor, 50), "s", "embed + Chroma, p50"),
        ("ask p99", percentile(t_ask, 99), percentile(t_floor, 99), "s", "embed + Chroma, p99"),
        ("store on disk", disk / 1e6, raw / 1e6, "MB", "texts + f32 vectors + int8 sentences"),
        ("peak RSS after index", rss_index, rss_floor, "MB", "model + bare encode (no store)"),
        ("peak RSS at end", rss_end, rss_floor, "MB", "model + bare encode (no store)"),
    ]
    print(f"\n{'figure':<24}{'value':>12}{'floor':>12}{'ratio':>9}  unit      floor is")
    for name, value, base, unit, what in rows:
        ratio = value / base if base else float("nan")
        print(f"{name:<24}{value:12.3f}{base:12.3f}{ratio:8.2f}x  {unit:<9} {what}")
    print(f"peak RSS is ru_maxrss of the whole process, model included ({rss_model:.0f} MB "
          "after loading it; a batch of long chunks adds its activations).")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
