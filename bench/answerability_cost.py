"""What the answerability model adds to a question (not a test).

On one indexed data set (SQuAD 2.0-style: ``questions.jsonl`` and ``sources/``), each question
is answered twice, interleaved and warm: by the extractive answerer with the shipped model
(features of the leading candidates + the logistic head) and by the same answerer without it
(the baseline, measured in the same run on the same engine). Prints p50/p90 of both and the
ratio. The model's cost does not grow with the store: it scores a fixed pool of candidates.

    python bench/answerability_cost.py --dataset ../shared/eval/squad2_dev [--questions 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--store", type=Path, help="index folder (default: a temporary one)")
    args = parser.parse_args()

    from core.settings import Settings
    from qa.answering.answerability import candidate_features, load_model
    from qa.answering.extractive import ExtractiveAnswerer
    from qa.service import QAService

    store = args.store or Path(tempfile.mkdtemp(prefix="answerability-cost-"))
    settings = Settings(sources=args.dataset / "sources", store=store, chroma_url=None)
    service = QAService(settings)
    service.index()
    lines = (args.dataset / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["q"] for line in lines if line.strip()][: args.questions]

    def answerer(with_model: bool) -> ExtractiveAnswerer:
        return ExtractiveAnswerer(
            service.engine,
            service.reader,
            k=settings.top_k,
            mode=settings.retriever,
            config=settings.answering,
            model=load_model() if with_model else None,
        )

    plain, modelled = answerer(False), answerer(True)
    for q in questions[:20]:  # warm both: caches of sentence vectors, lexical index
        plain.answer(q)
        modelled.answer(q)
    times: dict[str, list[float]] = {"without model": [], "with model": []}
    for q in questions:
        for name, a in (("without model", plain), ("with model", modelled)):
            t0 = time.perf_counter()
            a.answer(q)
            times[name].append(1000 * (time.perf_counter() - t0))
    # The model's own step, alone: features of the pool and the logistic head.
    model = load_model()
    lexical = service.engine.lexical()
    step = []
    for q in questions:
        pool, _rows, _reason = plain.evidence(q)
        t0 = time.perf_counter()
        model.predict(candidate_features(q, q, pool, lexical))
        step.append(1000 * (time.perf_counter() - t0))
    times["model step"] = step
    print(f"{len(questions)} questions over {args.dataset} (interleaved, warm)")
    for name, ms in times.items():
        ms.sort()
        p50, p90 = statistics.median(ms), ms[int(0.9 * len(ms))]
        print(f"{name:14} p50 {p50:7.2f} ms   p90 {p90:7.2f} ms")
    step_share = statistics.median(times["model step"]) / statistics.median(times["with model"])
    print(f"model step p50 / answer p50: {step_share:.3f}")
    ratio = statistics.median(times["with model"]) / statistics.median(times["without model"])
    print(f"ratio p50 with/without: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
