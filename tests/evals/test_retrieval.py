"""``qa eval retrieval``: metrics on hand-made rankings, and the command on a tiny data set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from evals.retrieval import (
    doc_id_of,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    score_ranking,
    source_name,
)
from frontends.cli.main import main

# metrics -------------------------------------------------------------------------------------


def test_ndcg_binary_known_value() -> None:
    # relevant at ranks 1 and 3 of two relevant documents
    got = ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 10)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert got == pytest.approx(dcg / idcg)


def test_ndcg_graded_gains_and_non_positive_judgments() -> None:
    gains = {"a": 1, "b": 3, "c": 0, "d": -1}
    # the worse document first: dcg = 1 + 3/log2(3); ideal = 3 + 1/log2(3)
    got = ndcg_at_k(["a", "b", "c", "d"], gains, 10)
    assert got == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ndcg_at_k(["b", "a"], gains, 10) == pytest.approx(1.0)
    # documents judged 0 or negative are never relevant
    assert ndcg_at_k(["c", "d"], gains, 10) == 0.0
    assert ndcg_at_k(["a"], {"c": 0}, 10) == 0.0


def test_ndcg_cutoff() -> None:
    ranking = [f"n{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranking, {"a": 2}, 10) == 0.0
    assert ndcg_at_k(ranking, {"a": 2}, 11) == pytest.approx(1 / math.log2(12))


def test_recall_and_mrr() -> None:
    gains = {"a": 1, "b": 2, "c": 1, "z": 0}
    ranking = ["x", "b", "y", "a"]
    assert recall_at_k(ranking, gains, 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, gains, 2) == pytest.approx(1 / 3)
    assert mrr_at_k(ranking, gains, 10) == pytest.approx(0.5)
    assert mrr_at_k(["z", "x"], gains, 10) == 0.0
    assert mrr_at_k(["x"] * 10 + ["a"], gains, 10) == 0.0
    assert set(score_ranking(ranking, gains)) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


def test_source_names_round_trip() -> None:
    for doc_id in ("123", "abc_D-4", "a/b c", "ünï", "../x"):
        name = source_name(doc_id)
        assert "/" not in name and not name.startswith(".")
        assert doc_id_of(name) == doc_id
    assert doc_id_of("notes.txt") is None


# the command -----------------------------------------------------------------------------------

DOCS = [
    ("d1", "Wing flutter", "Flutter of swept wings at transonic speed was measured in a tunnel."),
    ("d2", "Heat transfer", "Heat conduction in composite slabs solved by Laplace transforms."),
    ("d3", "Boundary layers", "Laminar boundary layer separation on a flat plate with suction."),
    ("d4", "Shock waves", "Shock wave interaction with a boundary layer at a compression corner."),
    ("d5", "", "Buckling of thin cylindrical shells under axial compression and pressure."),
    ("d/6", "Odd id", "A document whose id is not a plain file name: supersonic inlet buzz."),
]
QUERIES = [
    ("q1", "flutter of swept wings"),
    ("q2", "heat conduction in composite slabs"),
    ("q3", "shock boundary layer interaction"),
    ("q4", "an unjudged query"),
]
QRELS = [("q1", "d1", 2), ("q2", "d2", 1), ("q3", "d4", 3), ("q3", "d3", 1), ("q3", "d5", 0)]


def write_dataset(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as fh:
        for i, title, text in DOCS:
            fh.write(json.dumps({"_id": i, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as fh:
        for i, text in QUERIES:
            fh.write(json.dumps({"_id": i, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


class CountingEmbedding(DeterministicFakeEmbedding):
    embedded: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> CountingEmbedding:
    model = CountingEmbedding(size=32)
    # The service loads the packaged model lazily from index.embeddings; this stands in for it.
    monkeypatch.setattr("index.embeddings.LocalEmbeddings", lambda **_kw: model)
    return model


def test_load_beir_reads_layout_and_judged_queries(tmp_path: Path) -> None:
    data = load_beir(write_dataset(tmp_path / "tiny"))
    assert data.name == "tiny" and len(data.corpus) == 6 and len(data.queries) == 4
    assert data.qrels["q3"] == {"d4": 3, "d3": 1, "d5": 0}
    assert data.judged_queries == ["q1", "q2", "q3"]


def test_eval_retrieval_json_and_reuse(
    tmp_path: Path, fake_model: CountingEmbedding, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = write_dataset(tmp_path / "tiny")
    store = str(tmp_path / "st")
    argv = ["eval", "retrieval", "--dataset", str(dataset), "--store", store, "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert err == ""  # quiet with --json
    assert result["dataset"] == "tiny" and result["docs"] == 6 and result["queries"] == 3
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"}
    for metrics in result["methods"].values():
        assert set(metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50"}
        assert all(0.0 <= metrics[m] <= 1.0 for m in ("ndcg@10", "recall@10", "mrr@10"))
    # BM25 finds every judged document of these word-overlap queries
    assert result["methods"]["bm25"]["recall@100"] == pytest.approx(1.0)
    assert result["methods"]["bm25"]["mrr@10"] == pytest.approx(1.0)
    first = fake_model.embedded
    assert first >= 6

    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)["methods"]["bm25"]
    assert again["ndcg@10"] == result["methods"]["bm25"]["ndcg@10"]
    assert fake_model.embedded == first  # second run embeds nothing


def test_eval_retrieval_table_default_store_and_progress(
    tmp_path: Path,
    fake_model: CountingEmbedding,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset = write_dataset(tmp_path / "tiny")
    monkeypatch.setenv("QA_STORE", str(tmp_path / "qa"))
    assert main(["eval", "retrieval", "--dataset", str(dataset), "--methods", "bm25"]) == 0
    out, err = capsys.readouterr()
    assert "ndcg@10" in out and "bm25" in out and "hybrid" not in out
    assert "indexing:" in err
    stores = list((tmp_path / "qa" / "eval").iterdir())
    assert len(stores) == 1 and stores[0].name.startswith("tiny-")
    assert len(list((stores[0] / "sources").iterdir())) == 6


def test_eval_retrieval_missing_dataset_is_an_error(
    tmp_path: Path, fake_model: CountingEmbedding, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["eval", "retrieval", "--dataset", str(tmp_path / "empty"), "--json"])
    assert code != 0
    assert "qrels" in capsys.readouterr().err
