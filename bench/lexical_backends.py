"""Compare lexical index backends: bm25s (today's), SQLite FTS5 and tantivy (not a test).

Every backend indexes the same tokens: ``index.text.tokenize`` (stemmed, stop words dropped)
joined by spaces. FTS5 splits them with ``tokenize="ascii tokenchars '_'"`` (ASCII letters
and digits and ``_`` are token characters, every non-ASCII character too, so only the spaces
split) and tantivy with its ``whitespace`` tokenizer; tokens holding digits, ``_`` or non-ASCII
letters survive unchanged. This is checked: the document frequencies of every unusual token and
of a random sample must equal bm25s's.

Backends (``--backends``):

- ``bm25s``: today's ``index.lexical.LexicalIndex`` (bm25s, k1=1.2, b=0.75; build + ``save``,
  ``load``, ``search``), copied from commit fa25312 so the bench does not follow the module
  while it is rewritten. No incremental change: its cost of a change is a full rebuild
  (re-tokenize every chunk + build + save).
- ``fts5``: SQLite FTS5, WAL, ``synchronous=NORMAL``, an external-content table over
  ``docs(rid, chunk_id UNIQUE, tokens)``, ranked by ``bm25()`` (k1=1.2, b=0.75; negative
  scores), df from an ``fts5vocab`` (row) table, the doc count in ``meta``.
- ``fts5-internal``: a plain FTS5 table (FTS5 stores the token text itself), ``docs(rid,
  chunk_id UNIQUE)``; delete is ``DELETE FROM fts WHERE rowid = ?``.
- ``fts5-contentless``: the same with ``content=''``; ``docs`` holds no tokens, so a delete
  must be handed the document's tokens again (SQLite < 3.43 has no ``contentless_delete``).
- ``tantivy``: tantivy-py, ``id`` (raw, stored) and ``body`` (whitespace, freqs, no positions).

Steps:

1. SciFact (one document = title + "\\n\\n" + text = one lexical doc): nDCG@10 on the test
   queries (``evals.retrieval.ndcg_at_k``) and top-10 overlap with bm25s, for every backend
   and for FTS5 with query-term pruning (``PRUNING``: drop terms with df > f*N, keep the
   rarest n, keep the rarest while their summed df <= f*N; ``RESCORED``: the same, then the
   top 200 rescored with BM25 over all the terms); then everything of step 2, plus a check
   that a reader process answers while this process writes (fts5 variants, tantivy).
2. Synthetic corpora of ``--sizes`` docs: SciFact sentences (tokenized once) sampled with
   replacement and concatenated to 500-1000 characters (chunk-sized), 2% of the tokens replaced
   by rare tokens: 30% of them used once (``zn…``), the rest Pareto-distributed
   (``zq123``/``жq123``), so the vocabulary grows with the corpus (~0.5 M terms at 1 M docs;
   SciFact alone has ~30k). Bulk build time, disk size, query p50/p99 on the SciFact queries
   with k=40 (interleaved across backends, so load from other jobs hits all alike), FTS5
   latency against the postings a query touches, add 20 + delete 20 docs (incl. commit;
   ``--rounds`` rounds, median), and open + first query in a fresh process with the index's
   pages dropped from the page cache (``posix_fadvise DONTNEED``) and again warm. For FTS5
   also: the SQL shapes compared, df lookup cost (fts5vocab walks the term's postings) against
   a df table kept by the writer, and MB per table (``dbstat``).

Progress goes to stderr; Markdown tables and the full results (JSON) to stdout.

    # tantivy is a project dependency (the keyword index); bm25s too (scoped questions)
    python bench/lexical_backends.py [--sizes 100000 1000000] [--backends bm25s fts5 tantivy]
        [--work /tmp/lexical-bench] [--out results.json] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SCIFACT, percentile

from index.text import sentence_spans, tokenize

K = 40  # the hybrid fetch depth
PERTURB = 0.02  # share of synthetic tokens replaced by a rare token...
NEW_TERMS = 0.3  # ...of which this share is a term used once (the vocabulary grows with N)
FTS5_TOKENIZE = "ascii tokenchars '_'"
# Query-term pruning for FTS5 (its bm25() scores every row matching any term: no WAND).
# label -> (rule, value): "max_df" drops terms with df > value*N, "rarest" keeps the value
# rarest distinct terms, "budget" keeps the rarest terms while their summed df <= value*N.
# Every rule keeps at least the rarest term.
PRUNING: dict[str, tuple[str, float]] = {
    "df<=20%": ("max_df", 0.20),
    "df<=10%": ("max_df", 0.10),
    "df<=5%": ("max_df", 0.05),
    "rarest 8": ("rarest", 8),
    "rarest 5": ("rarest", 5),
    "postings<=20%N": ("budget", 0.20),
    "postings<=5%N": ("budget", 0.05),
}
# The same, then the top 200 rescored with BM25 over all the query's terms (Fts5.search_rescored).
RESCORED: dict[str, tuple[str, float]] = {
    "df<=5% +rescore": ("max_df", 0.05),
    "postings<=5%N +rescore": ("budget", 0.05),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def match_expr(tokens: Sequence[str]) -> str:
    """An FTS5 OR query of quoted tokens (a quoted token is never an operator or a column)."""
    return " OR ".join(f'"{t}"' for t in tokens)


# backends -----------------------------------------------------------------------------------------
class Bm25s:
    """Today's index: a copy of ``index.lexical.LexicalIndex`` at commit fa25312 (the module is
    being rewritten in the working tree), built in full and saved beside the store.
    """

    name = "bm25s"
    incremental = False

    def __init__(self, path: Path) -> None:
        self.path = path / "lexical"
        self.ids: list[str] = []
        self.model: Any = None
        self.vocab: dict[str, int] = {}
        self._df: dict[str, int] = {}

    @staticmethod
    def load_library() -> None:
        import bm25s  # noqa: F401

    def _ready(self, ids: list[str], model: Any) -> None:
        import numpy as np

        self.ids, self.model = ids, model
        self.vocab = getattr(model, "vocab_dict", {}) or {}
        counts = np.diff(np.asarray(model.scores["indptr"]))  # csc: one column per token
        self._df = {t: int(counts[i]) for t, i in self.vocab.items() if i < len(counts)}

    def build(self, ids: list[str], texts: list[str]) -> None:
        """``LexicalIndex.build`` + ``save``; the texts are tokens already (``str.split``)."""
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index([t.split() for t in texts], show_progress=False)
        self._ready(list(ids), model)
        tmp = self.path.with_name(self.path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save(str(tmp), show_progress=False)
        (tmp / "ids.json").write_text(json.dumps({"generation": "bench", "ids": self.ids}))
        shutil.rmtree(self.path, ignore_errors=True)
        tmp.rename(self.path)

    def open(self) -> None:
        import bm25s

        meta = json.loads((self.path / "ids.json").read_text())
        self._ready(list(meta["ids"]), bm25s.BM25.load(str(self.path), show_progress=False))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        import numpy as np

        tokens = [t for t in tokenize(query) if t in self.vocab]
        if not tokens or not self.ids:
            return []
        scores = self.model.get_scores(tokens)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def df(self, token: str) -> int:
        return self._df.get(token, 0)

    def num_docs(self) -> int:
        return len(self.ids)

    def close(self) -> None:
        self.model = None


class Fts5:
    """SQLite FTS5 over an external-content table that maps rowids to chunk ids."""

    name = "fts5"
    incremental = True
    content = "external"  # or "contentless" (content=''), "internal" (FTS5 keeps the text)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = path / "lexical.sqlite3"
        self.con: sqlite3.Connection | None = None

    @staticmethod
    def load_library() -> None:
        pass

    @classmethod
    def schema(cls) -> list[str]:
        tok = f'tokenize="{FTS5_TOKENIZE}"'
        if cls.content == "external":
            tables = [
                "CREATE TABLE docs(rid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, "
                "tokens TEXT NOT NULL)",
                f"CREATE VIRTUAL TABLE fts USING fts5(tokens, content='docs', "
                f"content_rowid='rid', {tok})",
            ]
        else:
            extra = "content='', " if cls.content == "contentless" else ""
            tables = [
                "CREATE TABLE docs(rid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE)",
                f"CREATE VIRTUAL TABLE fts USING fts5(tokens, {extra}{tok})",
            ]
        return [
            *tables,
            "CREATE VIRTUAL TABLE vocab USING fts5vocab(fts, row)",
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ]

    # The subquery ranks and cuts inside FTS5 before the join: only k rows meet ``docs``.
    # bm25() called directly is faster than the ``rank`` column (measured: SEARCH_RANK).
    SEARCH = (
        "SELECT d.chunk_id, r.score FROM "
        "(SELECT rowid, bm25(fts) AS score FROM fts WHERE fts MATCH ? ORDER BY score LIMIT ?)"
        " AS r JOIN docs AS d ON d.rid = r.rowid ORDER BY r.score"
    )
    SEARCH_RANK = (
        "SELECT d.chunk_id, r.rank FROM "
        "(SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?) AS r "
        "JOIN docs AS d ON d.rid = r.rowid ORDER BY r.rank"
    )
    # The join first: every matching row is looked up in ``docs`` before the sort.
    SEARCH_JOIN = (
        "SELECT d.chunk_id, bm25(fts) FROM fts JOIN docs AS d ON d.rid = fts.rowid "
        "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?"
    )

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=10000")
        return con

    def build(self, ids: list[str], texts: list[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        con.execute("PRAGMA cache_size=-262144")  # 256 MB for the bulk load only
        for sql in self.schema():
            con.execute(sql)
        # Default 'hashsize' (1 MB of pending terms): a larger one makes the bulk load 2-3x
        # faster but leaves the segments at level 0, and the first incremental commits then
        # merge the whole index (1.3-3.9 s at 100k docs).
        con.execute("BEGIN")
        rows = range(1, len(ids) + 1)
        if self.content == "external":
            con.executemany(
                "INSERT INTO docs(rid, chunk_id, tokens) VALUES (?, ?, ?)",
                zip(rows, ids, texts, strict=False),
            )
            con.execute("INSERT INTO fts(fts) VALUES('rebuild')")
        else:
            con.executemany(
                "INSERT INTO docs(rid, chunk_id) VALUES (?, ?)", zip(rows, ids, strict=False)
            )
            con.executemany(
                "INSERT INTO fts(rowid, tokens) VALUES (?, ?)", zip(rows, texts, strict=False)
            )
        con.execute("INSERT INTO fts(fts) VALUES('optimize')")
        con.execute("INSERT OR REPLACE INTO meta VALUES('n', ?)", (len(ids),))
        tokens = sum(t.count(" ") + 1 for t in texts if t)
        con.execute("INSERT OR REPLACE INTO meta VALUES('tokens', ?)", (tokens,))
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    def open(self) -> None:
        self.con = self._connect()

    def _con(self) -> sqlite3.Connection:
        assert self.con is not None
        return self.con

    def prune(
        self, tokens: list[str], rule: tuple[str, float] | None, df: dict[str, int] | None = None
    ) -> list[str]:
        """The query tokens a pruning rule keeps (see ``PRUNING``)."""
        if not tokens or rule is None:
            return tokens
        kind, value = rule
        df = df if df is not None else {t: self.df(t) for t in set(tokens)}
        order = sorted(df, key=lambda t: (df[t], t))
        n = self.num_docs()
        if kind == "rarest":
            keep = order[: int(value)]
        elif kind == "max_df":
            keep = [t for t in order if df[t] <= value * n]
        else:
            keep, total = [], 0
            for t in order:
                total += df[t]
                if total > value * n:
                    break
                keep.append(t)
        kept = set(keep or order[:1])
        return [t for t in tokens if t in kept]

    def search(
        self, query: str, k: int, prune: tuple[str, float] | None = None, sql: str | None = None
    ) -> list[tuple[str, float]]:
        tokens = self.prune(tokenize(query), prune)
        if not tokens:
            return []
        rows = self._con().execute(sql or self.SEARCH, (match_expr(tokens), k)).fetchall()
        return [(cid, -rank) for cid, rank in rows]

    CANDIDATES = (
        "SELECT d.chunk_id, d.tokens FROM "
        "(SELECT rowid, bm25(fts) AS score FROM fts WHERE fts MATCH ? ORDER BY score LIMIT ?)"
        " AS r JOIN docs AS d ON d.rid = r.rowid"
    )

    def search_rescored(
        self, query: str, k: int, prune: tuple[str, float], depth: int = 200
    ) -> list[tuple[str, float]]:
        """Top ``depth`` for the pruned query, rescored with BM25 over every query term.

        The exact bm25s formula (Lucene idf, k1=1.2, b=0.75) from the stored tokens, the df of
        each term and the mean length; only docs holding a kept (rare) term can rank.
        """
        assert self.content == "external", "rescoring reads the tokens from docs"
        tokens = tokenize(query)
        if not tokens:
            return []
        df = {t: self.df(t) for t in set(tokens)}
        kept = self.prune(tokens, prune, df)
        con = self._con()
        rows = con.execute(self.CANDIDATES, (match_expr(kept), depth)).fetchall()
        n, total = con.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'n'), "
            "(SELECT value FROM meta WHERE key = 'tokens')"
        ).fetchone()
        avgdl = total / max(n, 1)
        idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        scored = []
        for cid, text in rows:
            toks = text.split()
            norm = 1.2 * (1 - 0.75 + 0.75 * len(toks) / avgdl)
            score = 0.0
            for t in tokens:
                tf = toks.count(t)
                if tf:
                    score += idf[t] * tf / (tf + norm)
            scored.append((score, cid))
        scored.sort(key=lambda x: (-x[0], x[1]))
        return [(cid, score) for score, cid in scored[:k]]

    def table_sizes(self) -> dict[str, float]:
        """Megabytes per table and index (``dbstat``)."""
        sql = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        return {name: size / 1e6 for name, size in self._con().execute(sql)}

    def df(self, token: str) -> int:
        row = self._con().execute("SELECT doc FROM vocab WHERE term = ?", (token,)).fetchone()
        return int(row[0]) if row else 0

    def num_docs(self) -> int:
        return int(self._con().execute("SELECT value FROM meta WHERE key = 'n'").fetchone()[0])

    def add(self, ids: list[str], texts: list[str]) -> None:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        for cid, text in zip(ids, texts, strict=True):
            if self.content == "external":
                rid = con.execute(
                    "INSERT INTO docs(chunk_id, tokens) VALUES (?, ?)", (cid, text)
                ).lastrowid
            else:
                rid = con.execute("INSERT INTO docs(chunk_id) VALUES (?)", (cid,)).lastrowid
            con.execute("INSERT INTO fts(rowid, tokens) VALUES (?, ?)", (rid, text))
        con.execute("UPDATE meta SET value = value + ? WHERE key = 'n'", (len(ids),))
        tokens = sum(t.count(" ") + 1 for t in texts if t)
        con.execute("UPDATE meta SET value = value + ? WHERE key = 'tokens'", (tokens,))
        con.execute("COMMIT")

    def delete(self, ids: list[str], texts: list[str]) -> None:
        """Delete by chunk id; the contentless table needs the documents' tokens (``texts``)."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        gone = tokens = 0
        for cid, text in zip(ids, texts, strict=True):
            if self.content == "external":
                row = con.execute("SELECT rid, tokens FROM docs WHERE chunk_id = ?", (cid,))
            else:
                row = con.execute("SELECT rid, ? FROM docs WHERE chunk_id = ?", (text, cid))
            hit = row.fetchone()
            if hit is None:
                continue
            if self.content == "internal":
                con.execute("DELETE FROM fts WHERE rowid = ?", (hit[0],))
            else:  # the 'delete' command must be handed the tokens the row was indexed with
                con.execute("INSERT INTO fts(fts, rowid, tokens) VALUES('delete', ?, ?)", hit)
            con.execute("DELETE FROM docs WHERE rid = ?", (hit[0],))
            gone += 1
            tokens += hit[1].count(" ") + 1 if hit[1] else 0
        con.execute("UPDATE meta SET value = value - ? WHERE key = 'n'", (gone,))
        con.execute("UPDATE meta SET value = value - ? WHERE key = 'tokens'", (tokens,))
        con.execute("COMMIT")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


class Fts5Contentless(Fts5):
    name = "fts5-contentless"
    content = "contentless"


class Fts5Internal(Fts5):
    name = "fts5-internal"
    content = "internal"


class Tantivy:
    """tantivy-py: one writer (a lock file), readers reload on commit."""

    name = "tantivy"
    incremental = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index: Any = None
        self.writer: Any = None

    @staticmethod
    def load_library() -> None:
        import tantivy  # noqa: F401

    @staticmethod
    def _schema() -> Any:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
        sb.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
        return sb.build()

    def build(self, ids: list[str], texts: list[str]) -> None:
        import tantivy

        self.path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self._schema(), path=str(self.path), reuse=False)
        writer = index.writer(heap_size=256_000_000, num_threads=0)
        for cid, text in zip(ids, texts, strict=True):
            writer.add_document(tantivy.Document(id=cid, body=text))
        writer.commit()
        writer.wait_merging_threads()
        del writer, index
        gc.collect()

    def open(self) -> None:
        import tantivy

        self.index = tantivy.Index.open(str(self.path))
        self.schema = self.index.schema

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        import tantivy

        tokens = tokenize(query)
        if not tokens:
            return []
        q = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", t, "freq"))
                for t in tokens
            ]
        )
        searcher = self.index.searcher()
        # count=False: counting every match would switch off block-max WAND.
        hits = searcher.search(q, k, count=False).hits
        return [(searcher.doc(addr)["id"][0], score) for score, addr in hits]

    def df(self, token: str) -> int:
        return self.index.searcher().doc_freq("body", token)  # type: ignore[no-any-return]

    def num_docs(self) -> int:
        return self.index.searcher().num_docs  # type: ignore[no-any-return]

    def open_writer(self) -> None:
        self.writer = self.index.writer(heap_size=50_000_000, num_threads=1)

    def add(self, ids: list[str], texts: list[str]) -> None:
        import tantivy

        for cid, text in zip(ids, texts, strict=True):
            self.writer.add_document(tantivy.Document(id=cid, body=text))
        self.writer.commit()
        self.index.reload()

    def delete(self, ids: list[str], texts: list[str]) -> None:
        for cid in ids:
            self.writer.delete_documents_by_term("id", cid)
        self.writer.commit()
        self.index.reload()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.wait_merging_threads()
            self.writer = None
        self.index = None
        gc.collect()


BACKENDS: dict[str, type] = {
    b.name: b  # type: ignore[attr-defined]
    for b in (Bm25s, Fts5, Fts5Internal, Fts5Contentless, Tantivy)
}


# corpora ------------------------------------------------------------------------------------------
def scifact() -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """Doc ids, raw texts (title + text), test queries and qrels."""
    from evals.retrieval import load_beir

    data = load_beir(SCIFACT)
    ids = list(data.corpus)
    texts = [f"{t}\n\n{x}" for t, x in data.corpus.values()]
    queries = {q: data.queries[q] for q in data.judged_queries}
    return ids, texts, queries, data.qrels


def sentences(raw: list[str]) -> list[tuple[list[str], int]]:
    """Tokens and character length of every sentence of the documents."""
    out = []
    for doc in raw:
        for part in doc.split("\n\n"):
            for a, b in sentence_spans(part):
                toks = tokenize(part[a:b])
                if toks:
                    out.append((toks, b - a))
    return out


def synthetic(
    n: int, sents: list[tuple[list[str], int]], seed: int
) -> tuple[list[str], list[str], int]:
    """``n`` chunk-sized docs of sampled sentences: ids, token texts and raw characters."""
    rnd = random.Random(seed)
    ids, texts = [], []
    chars = 0
    next_hit = int(rnd.expovariate(PERTURB))
    pos = 0
    for i in range(n):
        target = rnd.randrange(500, 1000)
        toks: list[str] = []
        length = 0
        while length < target:
            s_toks, s_len = sents[rnd.randrange(len(sents))]
            toks.extend(s_toks)
            length += s_len + 1
        while next_hit < pos + len(toks):
            if rnd.random() < NEW_TERMS:  # a term seen nowhere else (a name, a number)
                toks[next_hit - pos] = f"zn{seed}x{next_hit}"
            else:
                k = int(rnd.paretovariate(0.5))
                toks[next_hit - pos] = f"{'жq' if k % 3 == 0 else 'zq'}{k}"
            next_hit += 1 + int(rnd.expovariate(PERTURB))
        pos += len(toks)
        chars += length
        ids.append(hashlib.md5(f"{seed}:{i}".encode()).hexdigest())
        texts.append(" ".join(toks))
    return ids, texts, chars


# measurements -------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def df_parity(
    backends: dict[str, Any], tokens: list[str], reference: str = "bm25s"
) -> dict[str, Any]:
    """Tokens whose df differs from the reference's, per backend."""
    ref = backends.get(reference)
    out: dict[str, Any] = {}
    for name, b in backends.items():
        if b is ref or ref is None:
            continue
        bad = [(t, ref.df(t), b.df(t)) for t in tokens if ref.df(t) != b.df(t)]
        out[name] = {"checked": len(tokens), "mismatches": len(bad), "examples": bad[:5]}
        log(f"  df parity {name} vs {reference}: {len(bad)} of {len(tokens)} differ {bad[:3]}")
    return out


def sample_tokens(bm: Bm25s, n: int, seed: int = 7) -> list[str]:
    """Every token with a digit, ``_`` or a non-ASCII character (up to 500) + a random sample."""
    vocab = sorted(bm.vocab)
    odd = [t for t in vocab if not t.isascii() or "_" in t or any(c.isdigit() for c in t)]
    rnd = random.Random(seed)
    odd = rnd.sample(odd, min(500, len(odd)))
    return odd + rnd.sample(vocab, min(n, len(vocab)))


def latencies(
    runners: dict[str, Callable[[str], Any]],
    queries: list[str],
    warmup: int = 10,
    limits: dict[str, int] | None = None,
) -> dict[str, list[float]]:
    """Seconds per query for each runner, interleaved query by query.

    A runner named in ``limits`` answers only that many queries (the first ones).
    """
    limits = limits or {}
    for q in queries[:warmup]:
        for fn in runners.values():
            fn(q)
    out: dict[str, list[float]] = {name: [] for name in runners}
    for i, q in enumerate(queries):
        for name, fn in runners.items():
            if i >= limits.get(name, len(queries)):
                continue
            t0 = time.perf_counter()
            fn(q)
            out[name].append(time.perf_counter() - t0)
    return out


def drop_cache(path: Path) -> None:
    """Drop the clean pages of every file under ``path`` from the page cache."""
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def resident_mb(path: Path) -> float | None:
    """Megabytes of the files under ``path`` held in the page cache (``fincore``), if known."""
    files = [str(p) for p in path.rglob("*") if p.is_file()]
    if not files or shutil.which("fincore") is None:
        return None
    res = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return sum(int(x) for x in res.stdout.split()) / 1e6
    except ValueError:
        return None


def cold_open(name: str, path: Path, query: str, cold: bool) -> dict[str, Any]:
    """Open + first query in a fresh process; with ``cold`` the index's pages are dropped."""
    if cold:
        drop_cache(path)
    before = resident_mb(path)
    cmd = [sys.executable, __file__, "--_open", name, str(path), query]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["resident_mb_before"] = before
    return out


def open_main(name: str, path: str, query: str) -> int:
    """Child of :func:`cold_open`: time import, open and the first query."""
    import index.lexical  # noqa: F401  (project imports, not the backend's cost)

    backend = BACKENDS[name](Path(path))
    t_import, _ = timed(backend.load_library)
    t_open, _ = timed(backend.open)
    t_query, hits = timed(lambda: backend.search(query, K))
    print(
        json.dumps(
            {"import_ms": t_import * 1e3, "open_ms": t_open * 1e3, "query_ms": t_query * 1e3,
             "hits": len(hits)}
        )
    )  # fmt: skip
    return 0


def reader_main(name: str, path: str, seconds: float, rounds: int) -> int:
    """Child of :func:`concurrency`: query while another process writes; report what it saw."""
    backend = BACKENDS[name](Path(path))
    backend.open()
    queries = [q for q in json.loads(sys.stdin.readline())]
    print("ready", flush=True)
    seen: dict[int, float] = {}
    lat: list[float] = []
    errors: list[str] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        r = next((r for r in range(rounds) if r not in seen), None)
        try:
            t0 = time.perf_counter()
            backend.search(queries[i % len(queries)], K)
            lat.append(time.perf_counter() - t0)
            if r is not None and backend.search(f"zzmarker{r}", K):
                seen[r] = time.time()
        except Exception as exc:  # report, keep reading
            errors.append(repr(exc))
        i += 1
    print(
        json.dumps(
            {"queries": len(lat), "errors": errors[:5], "n_errors": len(errors),
             "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
             "seen": seen}
        )
    )  # fmt: skip
    return 0


def concurrency(
    name: str, path: Path, queries: list[str], new: tuple[list[str], list[str]], rounds: int = 5
) -> dict[str, Any]:
    """A reader process queries while this process adds and deletes docs ``rounds`` times."""
    writer = BACKENDS[name](path)
    writer.open()
    if hasattr(writer, "open_writer"):
        writer.open_writer()
    seconds = 3.0 + rounds * 2.0
    cmd = [sys.executable, __file__, "--_reader", name, str(path), str(seconds), str(rounds)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(queries) + "\n")
    proc.stdin.flush()
    proc.stdout.readline()
    time.sleep(0.5)
    committed: dict[int, float] = {}
    commit_ms: list[float] = []
    errors: list[str] = []
    ids, texts = new
    for r in range(rounds):
        part_ids = [f"{i}-c{r}" for i in ids[:20]]
        part = list(texts[:20])
        part[0] = f"{part[0]} zzmarker{r}"
        try:
            t, _ = timed(lambda ids=part_ids, part=part: writer.add(ids, part))
            committed[r] = time.time()
            commit_ms.append(t * 1e3)
            time.sleep(1.2)
            t, _ = timed(lambda ids=part_ids, part=part: writer.delete(ids, part))
            commit_ms.append(t * 1e3)
            time.sleep(0.3)
        except Exception as exc:
            errors.append(repr(exc))
    out, _ = proc.communicate(timeout=seconds + 60)
    writer.close()
    seen = {int(r): t for r, t in json.loads(out.strip().splitlines()[-1])["seen"].items()}
    reader = json.loads(out.strip().splitlines()[-1])
    lag = [seen[r] - committed[r] for r in committed if r in seen]
    return {
        "writer_errors": errors,
        "writer_commit_ms_max": max(commit_ms, default=float("nan")),
        "reader_queries": reader["queries"],
        "reader_errors": reader["n_errors"],
        "reader_error_examples": reader["errors"],
        "reader_p50_ms": reader["p50_ms"],
        "reader_p99_ms": reader["p99_ms"],
        "markers_seen": f"{len(lag)}/{rounds}",
        "visible_after_ms_max": max(lag, default=float("nan")) * 1e3,
    }


def increments(
    backend: Any, bulk: tuple[list[str], list[str]], new: tuple[list[str], list[str]], rounds: int
) -> dict[str, Any]:
    """Add 20 new docs then delete 20 bulk docs, ``rounds`` times, each with its commit."""
    out: dict[str, Any] = {}
    if hasattr(backend, "open_writer"):
        out["writer_open_ms"] = timed(backend.open_writer)[0] * 1e3
    n0 = backend.num_docs()
    rnd = random.Random(11)
    adds, dels = [], []
    for r in range(rounds):
        a_ids = [f"{c}-r{r}" for c in new[0][r * 20 : r * 20 + 20]]
        a_texts = new[1][r * 20 : r * 20 + 20]
        a_texts = [f"{a_texts[0]} zzround{r}", *a_texts[1:]]
        adds.append(timed(lambda i=a_ids, t=a_texts: backend.add(i, t))[0])
        picks = rnd.sample(range(len(bulk[0])), 20)
        d_ids = [bulk[0][i] for i in picks]
        d_texts = [bulk[1][i] for i in picks]
        dels.append(timed(lambda i=d_ids, t=d_texts: backend.delete(i, t))[0])
    out["add20_ms"] = statistics.median(adds) * 1e3
    out["del20_ms"] = statistics.median(dels) * 1e3
    out["add20_ms_max"] = max(adds) * 1e3
    out["del20_ms_max"] = max(dels) * 1e3
    out["num_docs_ok"] = backend.num_docs() == n0
    out["marker_df"] = [backend.df(f"zzround{r}") for r in range(rounds)]
    # A deleted doc must be gone from the results of a query for its rarest token.
    return out


def vocab_lookup_us(backend: Any, tokens: list[str]) -> float:
    t, _ = timed(lambda: [backend.df(t) for t in tokens])
    return t / max(len(tokens), 1) * 1e6


def postings_profile(
    ref: Any, queries: list[str], lat: list[float], n_docs: int
) -> list[dict[str, Any]]:
    """FTS5 latency against the postings a query touches (sum of its terms' df), by quartile."""
    post = [sum(ref.df(t) for t in tokenize(q)) for q in queries]
    order = sorted(range(len(queries)), key=lambda i: post[i])
    out = []
    for part in range(4):
        idx = order[part * len(order) // 4 : (part + 1) * len(order) // 4]
        out.append(
            {
                "quartile": part + 1,
                "postings_median": statistics.median(post[i] for i in idx),
                "postings_per_doc": statistics.median(post[i] for i in idx) / n_docs,
                "p50_ms": percentile([lat[i] for i in idx], 50) * 1e3,
                "p99_ms": percentile([lat[i] for i in idx], 99) * 1e3,
            }
        )
    return out


def common_term_probes(backends: dict[str, Any], ref: Any, queries: list[str]) -> dict[str, Any]:
    """Single-term queries and df lookups for the commonest query terms (the worst cases)."""
    terms = sorted({t for q in queries for t in tokenize(q)}, key=ref.df, reverse=True)[:3]
    out: dict[str, Any] = {}
    for t in terms:
        row: dict[str, Any] = {"df_share": ref.df(t) / ref.num_docs()}
        for name, b in backends.items():
            times = [timed(lambda b=b, t=t: b.search(t, K))[0] for _ in range(3)]
            row[f"{name}_ms"] = min(times) * 1e3
            times = [timed(lambda b=b, t=t: b.df(t))[0] for _ in range(3)]
            row[f"{name}_df_us"] = min(times) * 1e6
        out[t] = row
    return out


def df_table_probe(fts: Fts5, queries: list[str], new: tuple[list[str], list[str]]) -> dict:
    """A df table the writer keeps, instead of fts5vocab (whose lookup walks the postings).

    Fill time from fts5vocab, lookup time, growth of the file, and the extra cost of keeping
    it for 20 added + 20 deleted docs (one upsert per distinct token).
    """
    con = fts._con()
    pages0 = con.execute("PRAGMA page_count").fetchone()[0]
    t_fill, _ = timed(
        lambda: (
            con.execute(
                "CREATE TABLE terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID"
            ),
            con.execute("INSERT INTO terms SELECT term, doc FROM vocab"),
        )
    )
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grow = (con.execute("PRAGMA page_count").fetchone()[0] - pages0) * 4096 / 1e6
    size = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'terms'").fetchone()[0]
    terms = sorted({t for q in queries for t in tokenize(q)})
    sql = "SELECT df FROM terms WHERE term = ?"
    t_look, _ = timed(lambda: [con.execute(sql, (t,)).fetchone() for t in terms])

    def change() -> None:
        con.execute("BEGIN IMMEDIATE")
        for text in new[1][:20]:
            for t in set(text.split()):
                con.execute(
                    "INSERT INTO terms VALUES (?, 1) ON CONFLICT(term) DO UPDATE SET df = df + 1",
                    (t,),
                )
        for text in new[1][:20]:
            for t in set(text.split()):
                con.execute("UPDATE terms SET df = df - 1 WHERE term = ?", (t,))
        con.execute("DELETE FROM terms WHERE df <= 0")
        con.execute("COMMIT")

    t_change = statistics.median(timed(change)[0] for _ in range(3))
    return {
        "fill_s": t_fill,
        "table_mb": size / 1e6,
        "file_growth_mb": grow,
        "lookup_us": t_look / len(terms) * 1e6,
        "vocab_lookup_us": vocab_lookup_us(fts, terms),
        "keep_20_add_20_del_ms": t_change * 1e3,
    }


# one corpus -----------------------------------------------------------------------------------
def run_corpus(
    label: str,
    work: Path,
    names: list[str],
    ids: list[str],
    texts: list[str],
    new: tuple[list[str], list[str]],
    queries: list[str],
    args: argparse.Namespace,
    tokenize_s: float,
    qrels: tuple[dict[str, str], dict[str, dict[str, int]]] | None = None,
) -> dict[str, Any]:
    from evals.retrieval import ndcg_at_k

    res: dict[str, Any] = {"label": label, "docs": len(ids), "tokenize_s": tokenize_s}
    log(f"== {label}: {len(ids)} docs, load {os.getloadavg()}")
    dirs = {n: work / label / n for n in names}
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    for n in names:
        shutil.rmtree(dirs[n], ignore_errors=True)
        dirs[n].mkdir(parents=True)
        b = BACKENDS[n](dirs[n])
        gc.collect()
        t, _ = timed(lambda b=b: b.build(ids, texts))
        b.close()
        per[n]["build_s"] = t
        per[n]["disk_mb"] = disk_mb(dirs[n])
        if isinstance(b, Fts5):
            b.open()
            per[n]["tables_mb"] = b.table_sizes()
            b.close()
        per[n]["load"] = os.getloadavg()[0]
        log(f"  {n}: build {t:.1f} s, {per[n]['disk_mb']:.1f} MB, load {os.getloadavg()[0]:.2f}")

    opened = {n: BACKENDS[n](dirs[n]) for n in names}
    for b in opened.values():
        b.open()
    ref = opened.get("bm25s")
    if ref is not None:
        res["vocabulary"] = len(ref.vocab)
        res["df_parity"] = df_parity(opened, sample_tokens(ref, 500))
    probe = sorted({t for q in queries for t in tokenize(q)})[:300]
    for n, b in opened.items():
        per[n]["df_lookup_us"] = vocab_lookup_us(b, probe)
        per[n]["num_docs"] = b.num_docs()
    fts = opened.get("fts5")
    if fts is not None:
        plan = fts._con().execute("EXPLAIN QUERY PLAN SELECT doc FROM vocab WHERE term = ?", ("x",))
        res["vocab_plan"] = [r[-1] for r in plan.fetchall()]
        plan = fts._con().execute("EXPLAIN QUERY PLAN " + Fts5.SEARCH, ("x", K))
        res["search_plan"] = [r[-1] for r in plan.fetchall()]

    runners: dict[str, Callable[[str], Any]] = {}
    for n, b in opened.items():
        runners[n] = lambda q, b=b: b.search(q, K)
    if fts is not None:
        for lab, rule in PRUNING.items():
            runners[f"fts5 {lab}"] = lambda q, r=rule, f=fts: f.search(q, K, r)
        for lab, rule in RESCORED.items():
            runners[f"fts5 {lab}"] = lambda q, r=rule, f=fts: f.search_rescored(q, K, r)
    log(f"  latency: {len(queries)} queries x {len(runners)} runners, load {os.getloadavg()}")
    limits = {}
    if qrels is None:  # FTS5 is slow at the large sizes: fewer queries if asked
        limits = {n: args.fts5_queries for n in runners if n.startswith("fts5")}
        for n in ("fts5-internal", "fts5-contentless"):  # the same index structure as fts5
            limits[n] = min(args.fts5_queries, args.variant_queries)
    lat = latencies(runners, queries, limits=limits)
    res["latency"] = {
        n: {"p50_ms": percentile(v, 50) * 1e3, "p99_ms": percentile(v, 99) * 1e3,
            "mean_ms": statistics.fmean(v) * 1e3, "queries": len(v)}
        for n, v in lat.items()
    }  # fmt: skip
    for n, v in res["latency"].items():
        log(f"    {n:22s} p50 {v['p50_ms']:8.2f} ms  p99 {v['p99_ms']:8.2f} ms")
    if fts is not None:
        timed_q = queries[: len(lat["fts5"])]
        res["fts5_by_postings"] = postings_profile(fts, timed_q, lat["fts5"], len(ids))
        sub = queries[:50]
        sqls = {"bm25() subquery": Fts5.SEARCH, "rank subquery": Fts5.SEARCH_RANK,
                "join first": Fts5.SEARCH_JOIN}  # fmt: skip
        by_sql = latencies(
            {lab: lambda q, f=fts, s=sql: f.search(q, K, sql=s) for lab, sql in sqls.items()},
            sub,
            3,
        )
        res["fts5_sql_p50_ms"] = {lab: percentile(v, 50) * 1e3 for lab, v in by_sql.items()}
        log(f"  fts5 SQL variants, p50 of {len(sub)} queries: {res['fts5_sql_p50_ms']}")
        res["common_terms"] = common_term_probes(
            {n: b for n, b in opened.items() if n in ("bm25s", "fts5", "tantivy")}, fts, queries
        )

    if qrels is not None:
        qtext, judged = qrels
        ndcg: dict[str, float] = {}
        top10: dict[str, list[list[str]]] = {}
        for lab, fn in runners.items():
            scores = []
            top10[lab] = []
            for qid, q in qtext.items():
                ranking = [cid for cid, _ in fn(q)]
                top10[lab].append(ranking[:10])
                scores.append(ndcg_at_k(ranking, judged[qid], 10))
            ndcg[lab] = statistics.fmean(scores)
        res["ndcg@10"] = ndcg
        if "bm25s" in top10:
            res["top10_overlap_with_bm25s"] = {
                lab: statistics.fmean(
                    len(set(a) & set(b)) / max(len(b), 1)
                    for a, b in zip(v, top10["bm25s"], strict=True)
                )
                for lab, v in top10.items()
            }
        log(f"  nDCG@10 {json.dumps({k: round(v, 4) for k, v in ndcg.items()})}")

    if fts is not None:
        res["fts5_df_table"] = df_table_probe(fts, queries, new)
        log(f"  fts5 df table: {res['fts5_df_table']}")
    for n, b in opened.items():
        if b.incremental:
            per[n].update(increments(b, (ids, texts), new, args.rounds))
            log(f"  {n}: add20 {per[n]['add20_ms']:.1f} ms, del20 {per[n]['del20_ms']:.1f} ms")
        else:
            per[n]["change_s"] = tokenize_s + per[n]["build_s"]
        b.close()
    del opened, ref, fts, runners
    gc.collect()

    first = queries[0]
    for n in names:
        cold = cold_open(n, dirs[n], first, cold=True)
        warm = cold_open(n, dirs[n], first, cold=False)
        per[n]["cold"] = cold
        per[n]["warm"] = warm
        per[n]["disk_mb_after_changes"] = disk_mb(dirs[n])
        log(f"  {n}: cold open+query {cold}, warm {warm}")

    if qrels is not None:
        res["concurrency"] = {}
        for n in names:
            if BACKENDS[n].incremental:
                res["concurrency"][n] = concurrency(n, dirs[n], queries, new)
                log(f"  {n}: concurrency {res['concurrency'][n]}")
    res["backends"] = per
    if not args.keep:
        shutil.rmtree(work / label, ignore_errors=True)
    return res


# report -------------------------------------------------------------------------------------------
def report(results: list[dict[str, Any]], names: list[str]) -> None:
    py = sys.version.split()[0]
    print(f"\nSQLite {sqlite3.sqlite_version}, python {py}, {os.cpu_count()} cores")
    for n in names:
        print(f"\n### {n}")
        print(
            "| corpus | docs | build s | disk MB | p50 ms | p99 ms | add20 ms | del20 ms "
            "| cold open+1st query ms | warm | nDCG@10 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            b = r["backends"].get(n)
            if b is None:
                continue
            lat = r["latency"][n]
            if "add20_ms" in b:
                add, dele = f"{b['add20_ms']:.1f}", f"{b['del20_ms']:.1f}"
            else:
                add = dele = f"rebuild {b['change_s']:.1f} s"
            cold = b["cold"]["open_ms"] + b["cold"]["query_ms"]
            warm = b["warm"]["open_ms"] + b["warm"]["query_ms"]
            nd = r.get("ndcg@10", {}).get(n)
            print(
                f"| {r['label']} | {r['docs']} | {b['build_s']:.1f} | {b['disk_mb']:.1f} "
                f"| {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {add} | {dele} "
                f"| {cold:.0f} (+import {b['cold']['import_ms']:.0f}) | {warm:.0f} "
                f"| {'' if nd is None else f'{nd:.4f}'} |"
            )
    if any("fts5 df<=10%" in r["latency"] for r in results):
        print("\n### fts5 query-term pruning (p50 / p99 ms; nDCG@10 on SciFact)")
        labs = ["fts5", *[f"fts5 {lab}" for lab in [*PRUNING, *RESCORED]]]
        print("| corpus | " + " | ".join(labs) + " |")
        print("|---|" + "---:|" * len(labs))
        for r in results:
            cells = [
                f"{r['latency'][lab]['p50_ms']:.1f} / {r['latency'][lab]['p99_ms']:.1f}"
                for lab in labs
            ]
            print(f"| {r['label']} | " + " | ".join(cells) + " |")
            if "ndcg@10" in r:
                print(
                    "| nDCG@10 | " + " | ".join(f"{r['ndcg@10'][lab]:.4f}" for lab in labs) + " |"
                )
    print()
    print(json.dumps(results, indent=1, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/lexical-bench"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--rounds", type=int, default=5, help="add/delete rounds (median)")
    parser.add_argument(
        "--fts5-queries",
        type=int,
        default=300,
        help="queries timed for each FTS5 runner at the synthetic sizes (all: 300)",
    )
    parser.add_argument(
        "--variant-queries",
        type=int,
        default=100,
        help="queries timed for fts5-internal/-contentless at the synthetic sizes",
    )
    parser.add_argument("--no-scifact", action="store_true", help="synthetic sizes only")
    parser.add_argument("--keep", action="store_true", help="keep the indexes in --work")
    parser.add_argument("--_open", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--_reader", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._open:
        return open_main(*args._open)
    if args._reader:
        n, p, s, r = args._reader
        return reader_main(n, p, float(s), int(r))

    names = list(args.backends)
    log(f"SQLite {sqlite3.sqlite_version}; load {os.getloadavg()}")
    doc_ids, raw, qtext, judged = scifact()
    queries = list(qtext.values())
    t_tok, tok_texts = timed(lambda: [" ".join(tokenize(t)) for t in raw])
    raw_chars = sum(len(t) for t in raw)
    log(f"tokenize SciFact: {t_tok:.2f} s for {raw_chars / 1e6:.1f} M chars")
    sents = sentences(raw)
    new = synthetic(args.rounds * 20 + 20, sents, seed=999)[:2]
    results = []
    if not args.no_scifact:
        results.append(
            run_corpus(
                "scifact", args.work, names, doc_ids, tok_texts, new, queries, args, t_tok,
                qrels=(qtext, judged),
            )
        )  # fmt: skip
    for size in args.sizes:
        t_gen, (ids, texts, chars) = timed(lambda size=size: synthetic(size, sents, seed=size))
        log(f"generated {size} docs in {t_gen:.1f} s ({chars / 1e6:.0f} M raw chars)")
        tokenize_s = t_tok * chars / raw_chars  # the rebuild re-tokenizes every chunk text
        results.append(
            run_corpus(f"synthetic-{size}", args.work, names, ids, texts, new, queries, args,
                       tokenize_s)
        )  # fmt: skip
        del ids, texts
        gc.collect()
        if args.out:
            args.out.write_text(json.dumps(results, indent=1, default=str))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))
    report(results, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
