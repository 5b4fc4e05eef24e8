"""The naive baseline of ``qa eval answers --baseline naive``: one MiniLM sentence, never a refusal.

It joins the lines of each blank-line block of every indexed source's extracted text (the same
loaders as the project), splits at . ! ? followed by whitespace, embeds every sentence with the
packaged model, and answers each question with the single most similar sentence. It is the bar
the answerer's selection has to clear: if ranking whole sentences by similarity did as well, the
answerer's heuristics would not be pulling their weight.
"""

from __future__ import annotations

import re

import numpy as np

from core.types import Answer, Citation
from index.text import trim
from qa.service import QAService

_BLOCK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def naive_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence: blank-line blocks, split after . ! ? and whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for gap in [*_BLOCK.finditer(text), None]:
        end = gap.start() if gap else len(text)
        start = pos
        for m in _SENTENCE_END.finditer(text, pos, end):
            spans.append((start, m.end()))
            start = m.end()
        spans.append((start, end))
        pos = gap.end() if gap else len(text)
    trimmed = (trim(text, a, b) for a, b in spans)
    return [(a, b) for a, b in trimmed if b > a]


class NaiveRanker:
    """Top-1 sentence by cosine similarity over every sentence of the service's sources."""

    name = "naive"

    def __init__(self, service: QAService, batch: int = 128) -> None:
        self.service = service
        self.items: list[tuple[str, int, int, str]] = []
        for row in service.list_sources():
            if row.status != "ok":
                continue
            src = service.reader.read(row.source)
            for a, b in naive_sentences(src.text):
                self.items.append((row.source, a, b, src.text[a:b]))
        texts = [" ".join(t.split()) for *_, t in self.items]
        vectors = []
        for i in range(0, len(texts), batch):
            vectors.extend(service.embeddings.embed_documents(texts[i : i + batch]))
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        self.matrix = matrix

    def answer(self, question: str) -> Answer:
        """The most similar sentence, quoted and cited."""
        if not self.items:
            return Answer(question=question, answer="", refused=True)
        q = np.asarray(self.service.embeddings.embed_query(question), dtype=np.float32)
        sims = self.matrix @ (q / (np.linalg.norm(q) or 1.0))
        best = int(np.argmax(sims))
        source, a, b, text = self.items[best]
        citation = Citation(n=1, source=source, quote=text, start=a, end=b, score=float(sims[best]))
        return Answer(
            question=question,
            answer=f"{text} [1]",
            refused=False,
            citations=[citation],
            answerer=self.name,
        )
