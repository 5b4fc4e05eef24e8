"""The answerability model: how likely a candidate sentence is to answer the question.

Each candidate becomes a row of features the answerer already measures (similarity, idf
coverage of the question's terms in the sentence and around it, the rarest question term it
lacks, answer type, names, rank and margins). A small model fitted on question sets
(``qa train answerability``; see ``evals.answerability``) maps a row to a probability. The
answerer quotes the most probable sentence and refuses below ``QA_MIN_CONFIDENCE``.

The fitted parameters ship in ``answerability.json`` beside this module, with the command and
the data that made them.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError
from index.lexical import Lexical
from index.text import tokenize
from qa.answering.evidence import (
    Candidate,
    answer_type,
    has_type,
    key_terms,
    names,
    numbers,
    weighted_coverage,
)

MODEL_FILE = Path(__file__).with_name("answerability.json")

FEATURES = (
    "dense",
    "own_vector",
    "coverage",
    "context_coverage",
    "chunk_coverage",
    "title_coverage",
    "missing_rarest",
    "missing_share",
    "dense_gap",
    "coverage_gap",
    "best_dense",
    "best_coverage",
    "position",
    "hit_rank",
    "wants_number",
    "wants_date",
    "type_missing",
    "wh_who",
    "wh_when",
    "wh_where",
    "wh_why",
    "wh_how",
    "new_name",
    "has_number",
    "new_terms",
    "names_present",
    "length",
    "negation_mismatch",
    "number_missing",
    "modifier_missing",
    "bigram_coverage",
    "key_terms",
    "dense_x_coverage",
)

_NEGATION = re.compile(r"\b(not|never|no|none|cannot|without|neither|nor)\b|n[’']t\b", re.I)
# Small words that change what is asked ("Most of the forces…" against "All of the forces…");
# stop-word removal hides them from the key terms.
_MODIFIER = re.compile(
    r"\b(all|most|only|first|last|same|different|more|less|fewer|least|every|each|before|after|"
    r"earliest|latest|largest|smallest|highest|lowest|biggest|longest|shortest|oldest|newest|"
    r"best|worst|main|major|minor|primary|secondary|initial|final|former|latter|previous|next)\b",
    re.I,
)
_WH = {
    "wh_who": re.compile(r"\b(who|whom|whose)\b", re.I),
    "wh_when": re.compile(r"\bwhen\b", re.I),
    "wh_where": re.compile(r"\bwhere\b", re.I),
    "wh_why": re.compile(r"\bwhy\b", re.I),
    "wh_how": re.compile(r"\bhow\b(?! (many|much)\b)", re.I),
}


def _bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(tokens))


def candidate_features(
    question: str, query: str, cands: list[Candidate], lexical: Lexical
) -> np.ndarray:
    """One row of ``FEATURES`` per candidate (``cands`` in the answerer's order)."""
    q_terms = key_terms(query)
    idf = {t: lexical.idf(t) for t in q_terms}
    rarest = max(idf.values(), default=1.0) or 1.0
    wanted = answer_type(question)
    q_names = [frozenset(tokenize(n)) for n in names(question)]
    q_name_terms = frozenset().union(*q_names)
    q_bigrams = _bigrams(tokenize(question))
    q_negated = bool(_NEGATION.search(question))
    q_numbers = numbers(question)
    q_modifiers = {m.lower() for m in _MODIFIER.findall(question)}
    wh = {name: float(bool(rx.search(question))) for name, rx in _WH.items()}
    chunk_terms: dict[str, frozenset[str]] = {}
    chunk_numbers: dict[str, set[str]] = {}

    best_dense = max((c.dense for c in cands), default=0.0)
    best_cov = max((c.coverage for c in cands), default=0.0)
    rows = []
    for i, c in enumerate(cands):
        chunk = c.hit.chunk
        if chunk.id not in chunk_terms:
            chunk_terms[chunk.id] = frozenset(tokenize(chunk.text))
            chunk_numbers[chunk.id] = numbers(chunk.text)
        around = c.terms | c.context_terms
        missing = q_terms - around
        cand_names = {t for n in names(c.text) for t in tokenize(n)}
        typed = has_type(c.text, wanted)
        n_tokens = len(c.terms)
        row = {
            "dense": c.dense,
            "own_vector": float(c.own_vector),
            "coverage": c.coverage,
            "context_coverage": weighted_coverage(idf, around),
            "chunk_coverage": weighted_coverage(idf, chunk_terms[chunk.id]),
            "title_coverage": weighted_coverage(idf, c.section_terms),
            "missing_rarest": max((idf[t] for t in missing), default=0.0) / rarest,
            "missing_share": len(q_terms - c.terms) / len(q_terms) if q_terms else 1.0,
            "dense_gap": best_dense - c.dense,
            "coverage_gap": best_cov - c.coverage,
            "best_dense": best_dense,
            "best_coverage": best_cov,
            "position": 1.0 / (1 + i),
            "hit_rank": 1.0 / (1 + c.hit.rank),
            "wants_number": float(wanted == "number"),
            "wants_date": float(wanted == "date"),
            "type_missing": float(not typed),
            **wh,
            "new_name": float(bool(cand_names - q_name_terms - q_terms)),
            "has_number": float(has_type(c.text, "number")),
            "new_terms": len(c.terms - q_terms) / n_tokens if n_tokens else 0.0,
            "names_present": (
                sum(bool(n <= around) for n in q_names) / len(q_names) if q_names else 1.0
            ),
            "length": math.log1p(n_tokens) / 4,
            "negation_mismatch": float(q_negated != bool(_NEGATION.search(c.text))),
            # "three fundamental interactions" against a sentence that says four
            "number_missing": float(bool(q_numbers - chunk_numbers[chunk.id])),
            "modifier_missing": float(
                bool(q_modifiers - {m.lower() for m in _MODIFIER.findall(c.text)})
            ),
            "bigram_coverage": (
                len(q_bigrams & _bigrams(tokenize(c.text))) / len(q_bigrams) if q_bigrams else 0.0
            ),
            "key_terms": math.log1p(len(q_terms)) / 2,
            "dense_x_coverage": c.dense * c.coverage,
        }
        rows.append([row[name] for name in FEATURES])
    return np.asarray(rows, dtype=np.float64).reshape(len(cands), len(FEATURES))


@dataclass
class AnswerabilityModel:
    """A logistic head over standardised features, optionally after one hidden layer."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float = 0.5
    hidden: tuple[np.ndarray, np.ndarray] | None = None  # (W1, b1) of a ReLU layer
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The probability that each row's candidate answers its question."""
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        if self.hidden is not None:
            w1, b1 = self.hidden
            x = np.maximum(x @ w1 + b1, 0.0)
        z = np.clip(x @ self.weights + self.bias, -30, 30)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``answerability.json``)."""
        out: dict[str, Any] = {
            "features": self.features,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "threshold": self.threshold,
            "meta": self.meta,
        }
        if self.hidden is not None:
            out["hidden"] = {"weights": self.hidden[0].tolist(), "bias": self.hidden[1].tolist()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerabilityModel:
        """Read the JSON form; it must name exactly the features this code computes."""
        if list(data.get("features", [])) != list(FEATURES):
            raise ConfigError(
                "The answerability model was fitted on other features than this version "
                "computes; refit it with `qa train answerability`."
            )
        hidden = data.get("hidden")
        return cls(
            features=list(data["features"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            weights=np.asarray(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            threshold=float(data.get("threshold", 0.5)),
            hidden=(
                (np.asarray(hidden["weights"]), np.asarray(hidden["bias"])) if hidden else None
            ),
            meta=dict(data.get("meta", {})),
        )

    def save(self, path: Path) -> None:
        """Write the JSON form."""
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


def load_model(path: Path | None = None) -> AnswerabilityModel:
    """The fitted model at ``path`` (the shipped one by default)."""
    return _load(str(path or MODEL_FILE))


@lru_cache(maxsize=4)
def _load(path: str) -> AnswerabilityModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the answerability model {path}: {exc}") from exc
    return AnswerabilityModel.from_dict(data)
