"""Fitting the answerability model: labelled question sets in, features, folds and a model out.

``qa train answerability`` runs this. Every question of every data set goes through the real
answerer's retrieval and candidate scoring (``ExtractiveAnswerer.evidence``), so the features
fitted on are the ones answering computes. A candidate is labelled 1 when it holds a gold answer
(from the question's own article, when the data names it); every candidate of an unanswerable
question is 0. Folds split by article, never by question: a model is always scored on
articles it was not fitted on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from core.errors import ConfigError
from core.progress import ProgressCallback
from core.settings import Settings
from evals.answers import flat, passage_file, read_jsonl, write_passages
from evals.squad2 import Squad2Record, squad2_scores
from qa.answering.answerability import FEATURES, AnswerabilityModel
from qa.answering.extractive import ExtractiveAnswerer, gate
from qa.service import QAService


@dataclass
class LabelledQuestion:
    """A question with what counts as its answer."""

    q: str
    answers: list[str]  # empty: the sources do not answer it
    source: str | None  # the file the answer must come from, when known
    group: str  # the article: folds never split one


@dataclass
class QuestionSet:
    """A data set: questions and the folder of sources they are asked over."""

    name: str
    sources: Path
    questions: list[LabelledQuestion]
    digest: str  # of the question file, recorded in the fitted model


@dataclass
class Features:
    """Candidate rows of every question of one data set."""

    name: str
    rows: np.ndarray  # (candidates, features)
    labels: np.ndarray  # (candidates,) 0/1
    question: np.ndarray  # (candidates,) question index
    groups: list[str]  # per question
    answerable: np.ndarray  # (questions,) bool
    ruled_out: np.ndarray  # (questions,) bool: refused whatever the model says
    chosen: np.ndarray  # (questions,) the row of the quote the answer leads with, or -1
    # (questions,) another row whose probability also decides ("who?": the best overall), or -1
    rival: np.ndarray


def load_question_set(path: Path, work: Path, sources: Path | None = None) -> QuestionSet:
    """Read a data set in one of the layouts the evaluations use.

    - ``questions.jsonl`` + ``sources/`` (``squad2_dev``, ``docs_dev``): questions with
      ``answers`` or ``expect_any``, ``kind: "refuse"`` for unanswerable ones;
    - ``passages.jsonl`` + ``qa.jsonl`` (``xquad_en``): the passages are written as sources
      under ``work``;
    - a question file (``seeds_dev.jsonl``) with ``sources`` given.
    """
    if path.is_file():
        if sources is None:
            raise ConfigError(f"{path} is a question file; give its sources folder too.")
        return _question_file(path, path.stem, sources)
    if (path / "questions.jsonl").is_file():
        return _question_file(path / "questions.jsonl", path.name, sources or path / "sources")
    if (path / "qa.jsonl").is_file() and (path / "passages.jsonl").is_file():
        return _squad_set(path, work)
    raise ConfigError(
        f"{path}: expected questions.jsonl and sources/, or passages.jsonl and qa.jsonl, "
        "or a question file with its sources folder."
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _question_file(path: Path, name: str, sources: Path) -> QuestionSet:
    if not sources.is_dir():
        raise ConfigError(f"Sources folder {sources} does not exist.")
    questions = []
    for row in read_jsonl(path):
        refuse = row.get("kind") == "refuse"
        answers = [] if refuse else list(row.get("answers") or row.get("expect_any") or [])
        if not refuse and not answers:
            continue  # nothing to check a quote against
        where = row.get("source") or next(iter(row.get("sources_any") or []), None)
        questions.append(
            LabelledQuestion(
                q=row["q"],
                answers=answers,
                source=row.get("source"),
                group=f"{name}/{where or name}",
            )
        )
    return QuestionSet(name, sources, questions, _digest(path))


def _squad_set(path: Path, work: Path) -> QuestionSet:
    sources = write_passages(path / "passages.jsonl", work / "sources")
    questions = [
        LabelledQuestion(
            q=row["question"],
            answers=[row["answer"]],
            source=passage_file(row["passage_id"]),
            group=f"{path.name}/{row['passage_id'].split('#')[0]}",
        )
        for row in read_jsonl(path / "qa.jsonl")
    ]
    return QuestionSet(path.name, sources, questions, _digest(path / "qa.jsonl"))


def _code_digest() -> str:
    """Of the modules that compute the rows: a change to them invalidates cached rows."""
    import qa.answering.answerability as features_module
    import qa.answering.evidence as evidence_module
    import qa.answering.extractive as extractive_module

    digest = hashlib.sha256()
    for module in (features_module, evidence_module, extractive_module, sys.modules[__name__]):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def collect(
    qset: QuestionSet,
    store: Path,
    embeddings: Embeddings | None = None,
    progress: ProgressCallback | None = None,
) -> Features:
    """Index the set's sources under ``store`` and compute every question's candidate rows.

    The rows are cached in ``store`` keyed by the questions, the sources' index generation and
    the code that computes them, so refitting does not re-ask.
    """
    settings = Settings(sources=qset.sources, store=store, chroma_url=None)
    service = QAService(settings, embeddings=embeddings)
    service.index(progress=progress)
    # No model: the rows must not depend on the model being fitted.
    answerer = ExtractiveAnswerer(
        service.engine,
        service.reader,
        k=settings.top_k,
        mode=settings.retriever,
        config=settings.answering,
    )
    key = hashlib.sha256(
        json.dumps([qset.digest, service.store.generation(), _code_digest()]).encode()
    ).hexdigest()[:16]
    cache = store / f"answerability-{key}.npz"
    if cache.is_file():
        data = np.load(cache)
        return Features(
            qset.name,
            data["rows"],
            data["labels"],
            data["question"],
            [q.group for q in qset.questions],
            data["answerable"],
            data["ruled_out"],
            data["chosen"],
            data["rival"],
        )
    rows: list[np.ndarray] = []
    labels: list[int] = []
    owner: list[int] = []
    ruled_out: list[bool] = []
    chosen: list[int] = []
    rival: list[int] = []
    for i, q in enumerate(qset.questions):
        pool, x, reason = answerer.evidence(q.q)
        ruled_out.append(bool(reason))
        if reason or not pool:
            chosen.append(-1)
            rival.append(-1)
            continue  # refused whatever the model says: nothing to learn from
        judged = gate(q.q, pool)
        chosen.append(len(rows) + pool.index(judged[0]))
        rival.append(len(rows) + pool.index(judged[1]) if len(judged) > 1 else -1)
        gold = [flat(a) for a in q.answers]
        for cand, row in zip(pool, x, strict=True):
            right = any(g in flat(cand.text) for g in gold)
            if q.source is not None:
                right = right and cand.hit.chunk.source == q.source
            rows.append(row)
            labels.append(int(right))
            owner.append(i)
    features = Features(
        qset.name,
        np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES)),
        np.asarray(labels, dtype=np.int8),
        np.asarray(owner, dtype=np.int32),
        [q.group for q in qset.questions],
        np.asarray([bool(q.answers) for q in qset.questions]),
        np.asarray(ruled_out, dtype=bool),
        np.asarray(chosen, dtype=np.int64),
        np.asarray(rival, dtype=np.int64),
    )
    np.savez_compressed(
        cache,
        rows=features.rows,
        labels=features.labels,
        question=features.question,
        answerable=features.answerable,
        ruled_out=features.ruled_out,
        chosen=features.chosen,
        rival=features.rival,
    )
    return features


def fit(
    rows: np.ndarray, labels: np.ndarray, *, seed: int = 0, c: float = 1.0, hidden: int = 0
) -> AnswerabilityModel:
    """A logistic model (or one ReLU hidden layer of ``hidden`` units) on standardised rows."""
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (rows - mean) / scale
    if hidden:
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            alpha=1.0 / c,
            max_iter=400,
            random_state=seed,
            early_stopping=False,
        ).fit(x, labels)
        return AnswerabilityModel(
            features=list(FEATURES),
            mean=mean,
            scale=scale,
            weights=mlp.coefs_[1][:, 0],
            bias=float(mlp.intercepts_[1][0]),
            hidden=(mlp.coefs_[0], mlp.intercepts_[0]),
        )
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, labels)
    return AnswerabilityModel(
        features=list(FEATURES),
        mean=mean,
        scale=scale,
        weights=lr.coef_[0],
        bias=float(lr.intercept_[0]),
    )


@dataclass
class Decisions:
    """Per question: the top candidate's probability and whether it holds the answer."""

    confidence: np.ndarray
    top_right: np.ndarray  # bool
    answerable: np.ndarray  # bool


def decide(features: Features, probs: np.ndarray) -> Decisions:
    """Per question, as the answerer decides: the probability of the quote it leads with."""
    n = len(features.answerable)
    confidence = np.full(n, -1.0)  # refused at every threshold: ruled out, or no candidate
    top_right = np.zeros(n, dtype=bool)
    has = features.chosen >= 0
    confidence[has] = probs[features.chosen[has]]
    both = features.rival >= 0  # as the answerer's gate: the better of the two
    confidence[both] = np.maximum(confidence[both], probs[features.rival[both]])
    top_right[has] = features.labels[features.chosen[has]].astype(bool)
    return Decisions(confidence, top_right, features.answerable.copy())


def scores(d: Decisions, threshold: float) -> dict[str, float | int | None]:
    """The ``qa eval squad2`` figures at one threshold (offline: top quote and refusal only)."""
    records = [
        Squad2Record(
            answerable=bool(a),
            confidence=max(float(c), 0.0),
            refused=bool(c < threshold),
            rule_refused=bool(c < 0),  # ruled out, or no candidate
            top_has_gold=bool(right),
        )
        for c, right, a in zip(d.confidence, d.top_right, d.answerable, strict=True)
    ]
    figures = squad2_scores(records, threshold)
    keys = (
        "answerable_top_quote",
        "wrongly_refused",
        "unanswerable_refused",
        "overall",
        "always_answer",
    )
    return {"questions": len(records), **{k: figures[k] for k in keys}}


def fold_of(features: Sequence[Features], folds: int) -> list[np.ndarray]:
    """Per data set, each candidate row's fold: articles dealt round-robin in sorted order."""
    out = []
    for f in features:
        groups = sorted(set(f.groups))
        fold = {g: i % folds for i, g in enumerate(groups)}
        per_question = np.asarray([fold[g] for g in f.groups], dtype=np.int32)
        out.append(per_question[f.question] if len(f.question) else per_question[:0])
    return out


def cross_validate(features: Sequence[Features], folds: int, **fit_args: Any) -> list[np.ndarray]:
    """Out-of-fold probabilities for every candidate row of every data set."""
    row_folds = fold_of(features, folds)
    rows = np.concatenate([f.rows for f in features])
    labels = np.concatenate([f.labels for f in features])
    all_folds = np.concatenate(row_folds)
    probs = np.zeros(len(rows))
    for k in range(folds):
        test = all_folds == k
        if not test.any():
            continue
        model = fit(rows[~test], labels[~test], **fit_args)
        probs[test] = model.predict(rows[test])
    out, at = [], 0
    for f in features:
        out.append(probs[at : at + len(f.rows)])
        at += len(f.rows)
    return out


def best_threshold(decisions: Sequence[Decisions]) -> float:
    """The threshold with the best mean, over the data sets, of the share of questions right.

    Right is the top quote holding a gold answer, or a refusal of an unanswerable question.
    Each data set counts once whatever its size, so the threshold cannot buy one set's
    refusals (SQuAD 2.0's adversarial questions) with every other set's answers.
    """
    grid = np.round(np.arange(0.02, 0.98, 0.01), 2)
    means = []
    for t in grid:
        shares = []
        for d in decisions:
            # squad2_scores' "overall", unrounded and over arrays: the grid is searched often.
            answered = d.confidence >= t
            right = (d.answerable & d.top_right & answered) | (~d.answerable & ~answered)
            shares.append(right.mean() if len(right) else 0.0)
        means.append(float(np.mean(shares)))
    return float(grid[int(np.argmax(means))])


class TrainResult(BaseModel):
    """What ``qa train answerability`` reports (``--json``) and records in the model file."""

    threshold: float
    folds: int
    seed: int
    model: str
    cross_validated: dict[str, dict[str, float | int | None]]
    datasets: list[dict[str, Any]]
    output: str


def train(
    sets: Sequence[QuestionSet],
    work: Path,
    out: Path,
    *,
    folds: int = 8,
    seed: int = 0,
    c: float = 1.0,
    hidden: int = 0,
    command: str = "",
    embeddings: Embeddings | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Collect rows, cross-validate by article, choose the threshold, fit on all, write ``out``.

    The threshold is :func:`best_threshold` of the out-of-fold decisions, so it is chosen on
    predictions for articles the model had not seen.
    """
    if folds < 2:
        raise ConfigError("--folds must be at least 2: the model is scored on unseen articles.")
    features = [
        collect(s, work / _store_name(s), embeddings=embeddings, progress=progress) for s in sets
    ]
    if not any(f.labels.any() for f in features):
        raise ConfigError("No candidate holds a gold answer; check the data sets' answers.")
    oof = cross_validate(features, folds, seed=seed, c=c, hidden=hidden)
    decisions = [decide(f, p) for f, p in zip(features, oof, strict=True)]
    threshold = best_threshold(decisions)
    model = fit(
        np.concatenate([f.rows for f in features]),
        np.concatenate([f.labels for f in features]),
        seed=seed,
        c=c,
        hidden=hidden,
    )
    model.threshold = threshold
    result = TrainResult(
        threshold=threshold,
        folds=folds,
        seed=seed,
        model=f"mlp({hidden})" if hidden else "logistic",
        cross_validated={
            f.name: scores(d, threshold) for f, d in zip(features, decisions, strict=True)
        },
        datasets=[
            {"name": s.name, "questions": len(s.questions), "sha256": s.digest} for s in sets
        ],
        output=str(out),
    )
    model.meta = {"command": command, "c": c, **result.model_dump(exclude={"output"})}
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return result


def _store_name(qset: QuestionSet) -> str:
    return f"{qset.name}-{hashlib.sha1(str(qset.sources.resolve()).encode()).hexdigest()[:8]}"
