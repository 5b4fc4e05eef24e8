"""Profile indexing one PDF with the real model: where the time goes (not a test).

For the PDF and for prose of about the same token count (SciFact abstracts in one .txt), in a
temporary folder: times ``load_bytes`` and ``chunk_source``; counts chunks, characters, tokens
(untruncated: past 256 the model cuts them) and the padding of the batches as the indexer forms
them; times a full ``QAService.index`` (model warmed first) split into planning, model calls,
writes and tail (generation, BM25), and cProfiles one more run; then the floor on the same
``embed_text()`` strings: ``embed_documents`` and ``embed_with_sentences`` (the unit spans).

    python bench/pdf_index_profile.py [--pdf ../shared/eval/docs_dev/sources/R-data.pdf]
        [--repeat 2] [--top 22]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, documents

DEFAULT_PDF = ROOT.parent / "shared" / "eval" / "docs_dev" / "sources" / "R-data.pdf"
PROFILED = (str(ROOT), "onnxruntime", "chromadb", "bm25s", "pypdfium2", "tokenizers")

ROWS = [  # (label, format of the figures in the dict that profile() returns, derived included)
    ("chunks / tokens total", "{chunks:.0f} / {tokens:.0f}"),
    ("chars / chunk (embed_text)", "{chars_chunk:.0f}"),
    ("tokens / chunk: mean / p90 / max", "{tok_chunk:.0f} / {p90:.0f} / {max:.0f}"),
    ("chunks > 256 tokens (tokens cut)", "{long:.0f} ({cut:.0f})"),
    ("units (units past the cut)", "{units:.0f} ({lost:.0f})"),
    ("token slots run as indexed (padding)", "{pad_run:.0f} (+{pad_run_pct:.0%})"),
    ("  if batched by token count", "{pad_tok:.0f} (+{pad_tok_pct:.0%})"),
    ("load_bytes (extract) / chunk_source s", "{load:.3f} / {chunk:.3f}"),
    ("index (QAService.index) s", "{index:.2f}"),
    ("  planning: read+extract+chunk s", "{plan:.2f}"),
    ("  model (embed_with_sentences) s", "{model:.2f}"),
    ("  Chroma writes + bookkeeping s", "{write:.2f}"),
    ("  tail: generation + BM25 s", "{tail:.2f}"),
    ("  process CPU s", "{index_cpu:.2f}"),
    ("bare encode s / CPU s", "{bare:.2f} / {bare_cpu:.2f}"),
    ("  batched by token count s / CPU s", "{by_tok:.2f} / {by_tok_cpu:.2f}"),
    ("encode + sentence pooling s / CPU s", "{pooled:.2f} / {pooled_cpu:.2f}"),
    ("chunks/s: index / bare / pooled", "{cps_index:.1f} / {cps_bare:.1f} / {cps_pooled:.1f}"),
    ("tokens/s: index / bare (per CPU s)", "{tps_index:.0f} / {tps_bare:.0f} ({tpc_bare:.0f})"),
    ("ratio index/bare, index/pooled", "{index_bare:.2f}, {index_pooled:.2f}"),
    ("ratio pooled/bare, by-token/bare CPU", "{pooled_bare:.2f}, {bytok_bare:.2f}"),
]


def derive(d: dict[str, float]) -> dict[str, float]:
    """The per-chunk, per-second and ratio figures of the table."""
    n, t = d["chunks"], d["tokens"]
    return d | {
        "chars_chunk": d["chars"] / n, "tok_chunk": t / n,
        "pad_run_pct": d["pad_run"] / d["kept"] - 1, "pad_tok_pct": d["pad_tok"] / d["kept"] - 1,
        "cps_index": n / d["index"], "cps_bare": n / d["bare"], "cps_pooled": n / d["pooled"],
        "tps_index": t / d["index"], "tps_bare": t / d["bare"], "tpc_bare": t / d["bare_cpu"],
        "index_bare": d["index"] / d["bare"], "index_pooled": d["index"] / d["pooled"],
        "pooled_bare": d["pooled"] / d["bare"], "bytok_bare": d["by_tok_cpu"] / d["bare_cpu"],
    }  # fmt: skip


def clock(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and process CPU seconds of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def padded(parts: list[list[int]], batch: int) -> int:
    """Token slots the model computes: each batch of ``batch`` is padded to its longest text."""
    return sum(max(p[i : i + batch]) * len(p[i : i + batch])
               for p in parts for i in range(0, len(p), batch))  # fmt: skip


def prose(tok, tokens: int) -> bytes:  # type: ignore[no-untyped-def]
    """SciFact abstracts, one paragraph each, until they hold about ``tokens`` word pieces."""
    parts, n = [], 0
    for _name, text in documents("scifact"):
        parts.append(text)
        n += len(tok.encode(text, add_special_tokens=False).ids)
        if n >= tokens:
            break
    return "\n".join(parts).encode()


def profile(name: str, raw: bytes, emb, tok, args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from core.settings import IndexingSettings, Settings
    from index.chunking import chunk_source
    from index.loaders import load_bytes
    from index.model import MAX_SEQ_LENGTH
    from index.sentence_vectors import unit_spans
    from qa.service import QAService

    chunks = chunk_source(src := load_bytes(name, raw))
    r = {"load": min(clock(lambda: load_bytes(name, raw))[0] for _ in range(args.repeat)),
         "chunk": min(clock(lambda: chunk_source(src))[0] for _ in range(args.repeat))}  # fmt: skip
    texts = [c.embed_text() for c in chunks]
    spans = [unit_spans(c) for c in chunks]
    encs = tok.encode_batch(texts)
    lens = sorted(len(e.ids) for e in encs)
    keep = MAX_SEQ_LENGTH - 2  # word pieces kept between [CLS] and [SEP]
    cut_at = [e.offsets[keep][1] if len(e.ids) > MAX_SEQ_LENGTH else 1e9 for e in encs]
    lost = sum(a >= at for at, s in zip(cut_at, spans, strict=True) for a, _ in s)
    # The indexer orders by characters (parts of embed_batch, then batches): padding compared
    # with ordering by tokens; code and tables have fewer characters per token than prose.
    kept = {t: min(len(e.ids), MAX_SEQ_LENGTH) for t, e in zip(texts, encs, strict=True)}
    by_chars = [c.embed_text() for c in sorted(chunks, key=lambda c: -len(c.text))]
    step = IndexingSettings().embed_batch
    parts = [sorted(by_chars[i : i + step], key=len, reverse=True)
             for i in range(0, len(texts), step)]  # fmt: skip
    r.update(
        pad_run=padded([[kept[t] for t in p] for p in parts], emb.batch_size),
        pad_tok=padded([sorted(kept.values(), reverse=True)], emb.batch_size),
        kept=sum(kept.values()), chunks=len(chunks), chars=sum(map(len, texts)), max=lens[-1],
        tokens=sum(lens), p90=lens[len(lens) * 9 // 10], long=sum(n > MAX_SEQ_LENGTH for n in lens),
        cut=sum(max(0, n - MAX_SEQ_LENGTH) for n in lens), units=sum(map(len, spans)), lost=lost,
    )  # fmt: skip

    def index_once(prof: cProfile.Profile | None = None) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="qa-bench-pdf-") as tmp:
            sources = Path(tmp) / "sources"
            sources.mkdir()
            (sources / name).write_bytes(raw)
            service = QAService(Settings(sources=sources, store=Path(tmp) / "store"), emb)
            _ = service.store  # open Chroma outside the timing
            marks = {"model": 0.0}

            def timed(texts: list[str], spans: list[list[tuple[int, int]]]):  # type: ignore[no-untyped-def]
                t0 = time.perf_counter()
                out = type(emb).embed_with_sentences(emb, texts, spans)
                marks["model"] += time.perf_counter() - t0
                return out

            def progress(state) -> None:  # type: ignore[no-untyped-def]
                if state.phase == "embedding":
                    marks.setdefault("plan", time.perf_counter())
                marks["last"] = time.perf_counter()

            emb.embed_with_sentences = timed  # the indexer's call, timed (instance attribute)
            t0, c0 = time.perf_counter(), time.process_time()
            with prof or contextlib.nullcontext():
                report = service.index(progress=progress)
            end = time.perf_counter()
            del emb.embed_with_sentences
            assert report.chunks.embedded == len({c.text_hash for c in chunks}), report.chunks
            return {"index": end - t0, "index_cpu": time.process_time() - c0,
                    "plan": marks["plan"] - t0, "model": marks["model"],
                    "write": marks["last"] - marks["plan"] - marks["model"],
                    "tail": end - marks["last"]}  # fmt: skip

    def by_tokens() -> None:  # the floor if batches were formed by token count, not characters
        order = sorted(texts, key=lambda t: -kept[t])
        for i in range(0, len(order), emb.batch_size):
            emb._onnx.run(order[i : i + emb.batch_size])

    runs: dict[str, list] = {}  # type: ignore[type-arg]
    for _ in range(args.repeat):  # interleaved, so that a burst of load hits all alike
        runs.setdefault("index", []).append(index_once())
        for key, fn in (("bare", lambda: emb.embed_documents(texts)), ("by_tok", by_tokens),
                        ("pooled", lambda: emb.embed_with_sentences(texts, spans))):  # fmt: skip
            runs.setdefault(key, []).append(clock(fn))
    r.update(min(runs.pop("index"), key=lambda d: d["index"]))
    for key, values in runs.items():
        r[key], r[f"{key}_cpu"] = min(values)
    index_once(prof := cProfile.Profile())

    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows = sorted(
        ((ct, tt, nc, f"{Path(f).name}:{ln}({fn})" if ln else fn)
         for (f, ln, fn), (_cc, nc, tt, ct, _) in stats.items()
         if any(k in f"{f}{fn}" for k in PROFILED)),
        reverse=True,
    )[: args.top]  # fmt: skip
    print(f"\n== {name}: cProfile of one fresh index run (cumulative s, own s, calls) ==")
    for ct, tt, nc, where in rows:
        print(f"  {ct:7.2f} {tt:7.2f} {nc:7d}  {where[:100]}")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (best is kept)")
    parser.add_argument("--top", type=int, default=22, help="cProfile entries shown")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from index.embeddings import LocalEmbeddings

    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    emb = LocalEmbeddings()  # Settings' defaults: ONNX, batch 32
    emb.embed_documents(["warm up " * 40] * 8)
    tok = Tokenizer.from_file(str(emb.model_dir / "tokenizer.json"))  # the model's, uncut
    tok.no_truncation()
    tok.no_padding()

    pdf = profile(args.pdf.name, args.pdf.read_bytes(), emb, tok, args)
    txt = profile("scifact-prose.txt", prose(tok, int(pdf["tokens"])), emb, tok, args)
    print(f"\nload average after: {os.getloadavg()}")

    pdf, txt = derive(pdf), derive(txt)
    print(f"\n{'':38} {args.pdf.name[:18]:>18} {'prose (.txt)':>18}")
    for label, fmt in ROWS:
        print(f"{label:38} {fmt.format(**pdf):>18} {fmt.format(**txt):>18}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
