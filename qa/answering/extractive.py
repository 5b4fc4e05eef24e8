"""The extractive answerer: whole sentences from retrieved chunks, quoted verbatim and cited.

It needs no LLM. It scores each candidate sentence against the question, refuses when the best
evidence does not address the question, and otherwise picks the few sentences that answer it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.settings import AnsweringSettings, RetrieverMode
from core.types import Answer, Citation, ScoredChunk, SourceText, Unit
from index.lexical import LexicalIndex
from index.structure import chunk_units
from index.text import tokenize
from qa.answering.base import REFUSAL, Searcher, retrieval_query
from qa.answering.disagreement import find_disagreements
from qa.sources import SourceReader
from qa.verify import verify_citations

# Question words and fillers that say nothing about the topic.
_GENERIC = frozenset(
    tokenize(
        "how many much what which who whom whose when where why does did do is are was were "
        "please explain describe give list name mention mentioned kind type article source sources "
        "document text report happen happened answer answers question questions thing things "
        "stuff information info detail details something anything everything",
        keep_stopwords=True,
    )
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|several|few)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)\b|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\b(january|february|march|april|may|"
    r"june|july|august|september|october|november|december|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|yesterday|today|century|decade)\b",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_CAPTION = re.compile(r"(figure|fig\.|table|listing|example|chart|diagram|plate)\s+[\dIVX]", re.I)
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w’'-]*[A-Za-z0-9])")


@dataclass
class Candidate:
    """A sentence of a retrieved chunk, with absolute offsets in its source."""

    hit: ScoredChunk
    start: int
    end: int
    text: str
    dense: float = 0.0
    coverage: float = 0.0
    score: float = 0.0
    terms: frozenset[str] = frozenset()
    section: str = ""
    section_terms: frozenset[str] = frozenset()
    block_end: bool = True
    index: int = 0  # the unit's position in its chunk
    vector: np.ndarray | None = None


class ExtractiveAnswerer:
    """Answers with verified quotes only; see the module docstring."""

    name = "extractive"

    def __init__(
        self,
        engine: Searcher,
        reader: SourceReader,
        *,
        k: int = 6,
        mode: RetrieverMode = "hybrid",
        config: AnsweringSettings | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.k = k
        self.mode: RetrieverMode = mode
        self.config = config or AnsweringSettings()
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    # public ----------------------------------------------------------------------------------
    def answer(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer ``question``; ``history`` holds earlier questions of the conversation."""
        with self.engine.snapshot():
            return self._answer(question.strip(), history or [])

    def stream(self, question: str, history: list[str] | None = None) -> Iterator[str | Answer]:
        """No draft to show: yields the answer alone."""
        yield self.answer(question, history)

    def _answer(self, question: str, history: list[str]) -> Answer:
        query = retrieval_query(question, history)
        hits = self.engine.search(query, self.k, self.mode)
        candidates = self.score(question, query, hits)
        if not candidates:
            return Answer(question=question, answer=REFUSAL, refused=True)
        chosen, reason = self.select(question, query, candidates)
        if not chosen:
            related = self._citations(candidates[: self.config.related])
            related, warnings = verify_citations(related, self.reader)
            return Answer(
                question=question,
                answer=REFUSAL,
                refused=True,
                related=related,
                warnings=[reason, *warnings] if reason else warnings,
            )
        citations, warnings = verify_citations(self._citations(chosen), self.reader)
        if not citations:
            return Answer(question=question, answer=REFUSAL, refused=True, warnings=warnings)
        citations = [c.model_copy(update={"n": n}) for n, c in enumerate(citations, 1)]
        disagreement = find_disagreements(citations)
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        if disagreement:
            text = "The sources give different accounts: " + text
        return Answer(
            question=question,
            answer=text,
            refused=False,
            citations=citations,
            disagreement=disagreement,
            warnings=warnings,
        )

    # scoring ---------------------------------------------------------------------------------
    def score(self, question: str, query: str, hits: list[ScoredChunk]) -> list[Candidate]:
        """Candidate sentences of the retrieved chunks, best first."""
        cands: list[Candidate] = []
        seen: set[tuple[str, int]] = set()
        stored = self.engine.sentence_vectors([hit.chunk.id for hit in hits]) if hits else {}
        for hit in hits:
            chunk = hit.chunk
            units = chunk_units(chunk)
            vectors = stored.get(chunk.id)
            if vectors is not None and len(vectors) != len(units):
                vectors = None  # stored for another split: embed instead
            for n, unit in enumerate(units):
                if not _quotable(chunk.text, unit):
                    continue
                end = _completed_end(chunk.text, units, n)
                start = chunk.start + unit.start
                key = (chunk.source, start)
                text = chunk.text[unit.start : end]
                if key in seen or len(tokenize(text, keep_stopwords=True)) < 2:
                    continue
                seen.add(key)
                # A lead-in taking its code or list keeps the lead-in's own vector for ranking.
                vector = vectors[n] if vectors is not None else None
                section = chunk.section_of(n)
                cands.append(
                    Candidate(
                        hit,
                        start,
                        chunk.start + end,
                        text,
                        terms=frozenset(tokenize(text)),
                        section=section,
                        section_terms=frozenset(tokenize(section)),
                        block_end=unit.block_end,
                        index=n,
                        # A zero row means "not pooled" (cut off by the model's length limit).
                        vector=vector if vector is not None and vector.any() else None,
                    )
                )
        if not cands:
            return []
        lexical = self.engine.lexical()
        # A follow-up's topic is in the earlier question (query); its own words may be pronouns.
        q_terms = _key_terms(query)
        vectors = self._vectors(cands)
        qv = np.asarray(self.engine.query_vector(query), dtype=np.float32)
        qv /= np.linalg.norm(qv) or 1.0
        dense = vectors @ qv
        cfg = self.config
        for cand, sim in zip(cands, dense, strict=True):
            cand.dense = float(sim)
            cand.coverage = _coverage(q_terms, cand.terms, lexical)
            cand.score = self._combined(cand)
        cands.sort(key=lambda c: -c.score)
        # Vectors pooled from the chunk's pass carry its context, so the sentences of one chunk
        # look alike; the leaders are embedded on their own (once, then cached) to tell them
        # apart. On docs_dev this took the answerable share from 17/33 to 21/33.
        top = [c for c in cands[: cfg.rerank_top] if c.vector is not None]
        if top:
            own = self._own_vectors([c.text for c in top])
            for cand, vec in zip(top, own, strict=True):
                cand.dense = float(vec @ qv)
                cand.score = self._combined(cand)
            cands.sort(key=lambda c: -c.score)
        return cands

    def _combined(self, cand: Candidate) -> float:
        cfg = self.config
        return (
            cfg.dense_weight * cand.dense
            + cfg.coverage_weight * cand.coverage
            + cfg.rank_weight / (1 + cand.hit.rank)
        )

    def select(
        self, question: str, query: str, cands: list[Candidate]
    ) -> tuple[list[Candidate], str]:
        """The sentences that answer, or ``([], reason)`` when the evidence is not enough."""
        cfg = self.config
        lexical = self.engine.lexical()
        q_terms = _key_terms(query)
        if not q_terms:
            # "What is the answer?" names nothing to look for; any sentence would be a guess.
            return (
                [],
                "The question names nothing to look up; ask about something the sources cover.",
            )
        missing = _missing_entities(question, lexical)
        if missing:
            return [], f"The sources never mention {', '.join(missing)}."
        best = cands[0]
        window = frozenset().union(*(c.terms for c in cands[:3]))
        titles = frozenset().union(*(c.section_terms for c in cands[:3]))
        coverage = _coverage(q_terms, window, lexical, titles)
        if best.score < cfg.min_support or (
            coverage < cfg.min_coverage and best.dense < cfg.strong_dense
        ):
            return [], "No passage addresses the question closely enough."
        wanted = _answer_type(question)
        typed = [c for c in cands if _has_type(c.text, wanted)]
        if wanted and (not typed or typed[0].score < cfg.keep_ratio * best.score):
            return [], f"No passage gives the {wanted} the question asks for."
        first = typed[0] if wanted else best
        chosen = [first]
        covered = set(first.terms)
        if _restates(first, q_terms):
            # "Various variables decide where R puts its temporary folder." only says the
            # question back; the sentence after it in the paragraph holds the answer.
            after = _next_in_paragraph(first, cands)
            if after is not None:
                chosen.append(after)
                covered |= after.terms
        for cand in cands:
            if len(chosen) >= cfg.max_quotes:
                break
            if cand in chosen or any(_near_duplicate(cand.text, c.text) for c in chosen):
                continue
            new_source = all(cand.hit.chunk.source != c.hit.chunk.source for c in chosen)
            if new_source:
                # Another source's account is worth showing when it addresses the question too.
                supported = cand.coverage >= cfg.min_coverage or cand.dense >= cfg.strong_dense
                if cand.score >= cfg.other_source_ratio * best.score and supported:
                    chosen.append(cand)
                    covered |= cand.terms
                continue
            # Near-ties are kept: the scores cannot tell which of them answers.
            tie = cand.score >= cfg.tie_ratio * best.score
            if cand.score >= cfg.keep_ratio * best.score and (
                tie or (cand.terms - covered) & q_terms
            ):
                chosen.append(cand)
                covered |= cand.terms
        # Readable order: by source as first chosen, then position in the source.
        order = {s: i for i, s in enumerate(dict.fromkeys(c.hit.chunk.source for c in chosen))}
        chosen.sort(key=lambda c: (order[c.hit.chunk.source], c.start))
        return chosen, ""

    # helpers ---------------------------------------------------------------------------------
    def _own_vectors(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` embedded on their own (cached by text)."""
        self._embed_missing(texts)
        return np.stack([self._sentence_vectors[t] for t in texts])

    def _vectors(self, cands: list[Candidate]) -> np.ndarray:
        """Each candidate's vector: stored at index time, else embedded now (and kept)."""
        self._embed_missing([c.text for c in cands if c.vector is None])
        return np.stack(
            [c.vector if c.vector is not None else self._sentence_vectors[c.text] for c in cands]
        )

    def _embed_missing(self, texts: list[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self._sentence_vectors]
        if missing:
            for text, vec in zip(
                missing, self.engine.embeddings.embed_documents(missing), strict=True
            ):
                arr = np.asarray(vec, dtype=np.float32)
                self._sentence_vectors[text] = arr / (np.linalg.norm(arr) or 1.0)
        for text in texts:
            self._sentence_vectors.move_to_end(text)
        while len(self._sentence_vectors) > 20_000:
            self._sentence_vectors.popitem(last=False)

    def _citations(self, cands: list[Candidate]) -> list[Citation]:
        pages: dict[str, SourceText | None] = {}  # each paged source read once per answer
        return [
            Citation(
                n=n,
                source=c.hit.chunk.source,
                quote=c.text,
                start=c.start,
                end=c.end,
                score=round(c.score, 4),
                page=self._page(c, pages),
                section=c.section or None,
                chunk_id=c.hit.chunk.id,
            )
            for n, c in enumerate(cands, 1)
        ]

    def _page(self, cand: Candidate, texts: dict[str, SourceText | None]) -> int | None:
        chunk = cand.hit.chunk
        if chunk.page is None:
            return None
        if chunk.source not in texts:
            try:
                texts[chunk.source] = self.reader.read(chunk.source)
            except Exception:  # the page number is a courtesy; verification reports problems
                texts[chunk.source] = None
        src = texts[chunk.source]
        return src.page_at(cand.start) if src is not None else chunk.page


def _key_terms(question: str) -> frozenset[str]:
    return frozenset(t for t in tokenize(question) if t not in _GENERIC)


def _coverage(
    q_terms: frozenset[str],
    terms: frozenset[str],
    lexical: LexicalIndex,
    titles: frozenset[str] = frozenset(),
) -> float:
    """Share of the question's key terms (idf-weighted) that the evidence contains.

    A term found only in the headings above the evidence counts half: the section is about it,
    the sentence may not be.
    """
    if not q_terms:
        return 0.0
    total = sum(lexical.idf(t) for t in q_terms)
    found = sum(lexical.idf(t) for t in q_terms & terms)
    found += 0.5 * sum(lexical.idf(t) for t in (q_terms & titles) - terms)
    return found / total if total else 0.0


def _restates(cand: Candidate, q_terms: frozenset[str]) -> bool:
    """The sentence is mostly the question's own words: it announces the answer, not gives it."""
    new = cand.terms - q_terms
    return bool(cand.terms) and len(new) <= len(cand.terms) / 3


def _next_in_paragraph(cand: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The candidate made of the very next unit of the same paragraph, if it is one."""
    if cand.block_end:
        return None
    chunk_id = cand.hit.chunk.id
    return next(
        (c for c in cands if c.hit.chunk.id == chunk_id and c.index == cand.index + 1), None
    )


def _quotable(text: str, unit: Unit) -> bool:
    """Headings, code on its own, captions and lone labels ("Note") are never an answer."""
    if unit.kind in ("heading", "code"):
        return False
    piece = text[unit.start : unit.end]
    if _CAPTION.match(piece) and not _TERMINAL.search(piece):
        return False  # "Figure 13: A Covering Index" names a figure the text does not hold
    return len(piece.split()) >= 4 or bool(_TERMINAL.search(piece))


def _leads_in(sentence: str) -> bool:
    """A sentence that a following code block completes: it ends in a colon or mid-clause."""
    return sentence.endswith(":") or not _TERMINAL.search(sentence)


_LIST_TAKEN = 500  # characters of a list a lead-in takes along


def _completed_end(text: str, units: list[Unit], n: int) -> int:
    """Where the quote of unit ``n`` ends: the unit itself, or what it introduces.

    "A text connection is created by" + the code line that completes it; "FTS5 features three
    built-in tokenizers:" + the items that follow (up to a few hundred characters, never past a
    heading): the lead-in alone says there is an answer without giving it.
    """
    unit = units[n]
    following = units[n + 1] if n + 1 < len(units) else None
    if following is None or following.kind == "heading":
        return unit.end
    sentence = text[unit.start : unit.end]
    if following.kind == "code" and _leads_in(sentence):
        return following.end
    if not (sentence.endswith(":") and unit.block_end):
        return unit.end
    end = unit.end
    for nxt in units[n + 1 :]:
        if nxt.kind not in ("item", "code") or (
            nxt.end - unit.start > _LIST_TAKEN and end > unit.end
        ):
            break
        end = nxt.end
    return end


def _missing_entities(question: str, lexical: LexicalIndex) -> list[str]:
    """Names in the question (capitalised words past its start) that no source contains."""
    missing = []
    for match in _PROPER.finditer(question):
        word = match.group(1)
        tokens = [t for t in tokenize(word) if t not in _GENERIC]
        if tokens and all(lexical.document_frequency(t) == 0 for t in tokens):
            missing.append(word)
    return missing


def _answer_type(question: str) -> str:
    """The kind of value the question asks for: "number", "date", or "" (any).

    "When" asks for a date only about an event ("When was it founded?"); "When does SQLite
    checkpoint?" asks for a condition, and "When I delete a row, how ..." is not asking when.
    """
    q = question.lower()
    if re.search(r"\bhow (many|much)\b|\bwhat (number|percentage|amount)\b", q):
        return "number"
    if re.search(r"\b(what|which|in what|in which) (year|date|day|month|century|decade)\b", q):
        return "date"
    if re.search(r"(^|[,;]\s*)when (was|were|did|will)\b", q) and not re.search(
        r",\s*(how|what)\b", q
    ):
        return "date"
    return ""


def _has_type(text: str, wanted: str) -> bool:
    if wanted == "number":
        return bool(_NUMBER.search(text))
    if wanted == "date":
        return bool(_DATE.search(text))
    return True


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a.strip() == b.strip()
    return len(ta & tb) / len(ta | tb) >= 0.8
