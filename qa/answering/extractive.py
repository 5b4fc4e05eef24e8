"""The extractive answerer: whole sentences from retrieved chunks, quoted verbatim and cited.

It needs no LLM. It scores each candidate sentence against the question, refuses when the best
evidence does not address the question, and otherwise picks the few sentences that answer it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from core.settings import AnsweringSettings, RetrieverMode
from core.types import Answer, Citation, ScoredChunk, SourceText, Turn, Unit
from index.lexical import Lexical
from index.structure import chunk_units
from index.text import tokenize
from qa.answering.answerability import AnswerabilityModel, candidate_features
from qa.answering.base import REFUSAL, Searcher
from qa.answering.conversation import Reading, read_turn
from qa.answering.disagreement import find_disagreements
from qa.answering.evidence import (
    Candidate,
    answer_type,
    coverage,
    defined_term,
    defines,
    has_name,
    has_type,
    key_terms,
    missing_entities,
    wanted_name,
    weighted_coverage,
)
from qa.answering.summary import pick_source, summary_points
from qa.sources import SourceReader
from qa.verify import verify_citations

_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_CAPTION = re.compile(r"(figure|fig\.|table|listing|example|chart|diagram|plate)\s+[\dIVX]", re.I)


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
        model: AnswerabilityModel | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.k = k
        self.mode: RetrieverMode = mode
        self.config = config or AnsweringSettings()
        # Without a model the heuristic score ranks and its thresholds refuse (tests, baselines).
        self.model = model
        self.min_confidence = (
            min_confidence if min_confidence is not None else model.threshold if model else 0.0
        )
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    # public ----------------------------------------------------------------------------------
    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        """Answer ``question``; ``history`` holds earlier questions of the conversation."""
        with self.engine.snapshot():
            return self._answer(question.strip(), history or [])

    def stream(self, question: str, history: list[Turn] | None = None) -> Iterator[str | Answer]:
        """No draft to show: yields the answer alone."""
        yield self.answer(question, history)

    def evidence(
        self, question: str, history: list[Turn] | None = None
    ) -> tuple[list[Candidate], np.ndarray, str]:
        """The candidates the model scores, their feature rows, and any rule refusal.

        The reason is why the question is refused whatever the model says ("" if nothing rules
        it out); the quote the answer leads with is ``first_choice(question, pool)``.

        What ``qa train answerability`` fits on: exactly what answering computes.
        """
        with self.engine.snapshot():
            question = question.strip()
            reading = read_turn(question, self._with_quotes(history or []))
            query = reading.query
            hits = self.engine.search(query, self.k, self.mode)
            pool = self.score(question, query, hits, reading)[: self.config.pool]
            rows = candidate_features(question, query, pool, self.engine.lexical())
            reason = self.ruled_out(question, query)
            if pool and not reason:
                reason = self._heuristic_refusal(question, query, pool, support=False)
            return pool, rows, reason

    def _answer(self, question: str, history: list[Turn]) -> Answer:
        reading = read_turn(question, self._with_quotes(history))
        if reading.kind == "more":
            return self._more(reading)
        if reading.kind == "summary":
            return self._summarize(reading)
        query = reading.query
        hits = self.engine.search(query, self.k, self.mode)
        candidates = self.rank(question, query, self.score(question, query, hits, reading))
        if not candidates:
            return self._refusal(reading, "", confidence=0.0)
        lead = _lead_confidence(question, candidates)
        confidence = round(lead, 4) if lead is not None else None
        chosen, reason = self.select(question, query, candidates)
        if not chosen:
            return self._refusal(reading, reason, candidates, confidence)
        return self._respond(reading, chosen, confidence)

    def _more(self, reading: Reading) -> Answer:
        """Answer "what else?": the next supported sentences on the topic, none quoted before."""
        topic = reading.topic or reading.query
        hits = self.engine.search(reading.query, self.k, self.mode)
        scored = self.score(topic, reading.query, hits, reading)
        fresh = [c for c in scored if not reading.was_quoted(c.hit.chunk.source, c.start, c.end)]
        fresh = self.rank(topic, reading.query, fresh)
        if not fresh:
            return self._refusal(reading, _NOTHING_MORE, confidence=0.0)
        lead = fresh[0].confidence
        confidence = round(lead, 4) if lead is not None else None
        chosen = [
            c
            for c in fresh[: self.config.pool]
            if c.confidence is None or c.confidence >= self.min_confidence
        ]
        kept: list[Candidate] = []
        for cand in chosen:
            if len(kept) >= self.config.max_quotes:
                break
            if cand.score >= self.config.keep_ratio * chosen[0].score and not any(
                _near_duplicate(cand.text, c.text) for c in kept
            ):
                kept.append(cand)
        if not kept:
            return self._refusal(reading, _NOTHING_MORE, fresh, confidence)
        return self._respond(reading, _reading_order(kept), confidence)

    def _summarize(self, reading: Reading) -> Answer:
        """A broad question: the central sentences of the document it is about, each cited."""
        titles = self.engine.source_titles()
        ranked = [h.chunk.source for h in self.engine.search(reading.question, self.k, self.mode)]
        source = pick_source(reading.question, reading, titles, ranked)
        title = titles.get(source, source)
        reading = replace(reading, interpreted_as=f"Summary of {title}")
        chunks = self.engine.source_chunks(source) if source else []
        vectors = self.engine.sentence_vectors([c.id for c in chunks]) if chunks else {}
        points = summary_points(chunks, vectors, self.config.summary_points)
        if not points:
            return self._refusal(reading, f"{title} has no sentences to summarise.")
        chosen = [
            Candidate(p.hit, p.start, p.end, p.text, score=p.centrality, section=p.section)
            for p in points
        ]
        return self._respond(reading, chosen, None)

    def _refusal(
        self,
        reading: Reading,
        reason: str,
        candidates: list[Candidate] | None = None,
        confidence: float | None = None,
    ) -> Answer:
        related, warnings = verify_citations(
            self._citations((candidates or [])[: self.config.related]), self.reader
        )
        return Answer(
            question=reading.question,
            answer=REFUSAL,
            refused=True,
            related=related,
            warnings=[reason, *warnings] if reason else warnings,
            confidence=confidence,
            interpreted_as=reading.interpreted_as,
        )

    def _respond(
        self, reading: Reading, chosen: list[Candidate], confidence: float | None
    ) -> Answer:
        citations, warnings = verify_citations(self._citations(chosen), self.reader)
        if not citations:
            answer = self._refusal(reading, "", confidence=confidence)
            return answer.model_copy(update={"warnings": warnings})
        citations = [c.model_copy(update={"n": n}) for n, c in enumerate(citations, 1)]
        disagreement = find_disagreements(citations)
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        if disagreement:
            text = "The sources give different accounts: " + text
        return Answer(
            question=reading.question,
            answer=text,
            refused=False,
            citations=citations,
            disagreement=disagreement,
            warnings=warnings,
            confidence=confidence,
            interpreted_as=reading.interpreted_as,
        )

    def _with_quotes(self, history: list[Turn]) -> list[Turn]:
        """Earlier turns whose citations came without their quote text get it from the source."""
        out = []
        for turn in history:
            if any(not c.quote for c in turn.citations):
                cited = []
                for c in turn.citations:
                    if not c.quote:
                        try:
                            text = self.reader.read(c.source).text
                        except Exception:  # a source gone since: its passage cannot guide us
                            continue
                        c = c.model_copy(update={"quote": text[c.start : c.end]})
                    cited.append(c)
                turn = turn.model_copy(update={"citations": cited})
            out.append(turn)
        return out

    # scoring ---------------------------------------------------------------------------------
    def score(
        self,
        question: str,
        query: str,
        hits: list[ScoredChunk],
        reading: Reading | None = None,
    ) -> list[Candidate]:
        """Candidate sentences of the retrieved chunks, best first.

        For a follow-up (``reading``), the question's own terms count twice what it carries
        from earlier turns, and sentences just after the passage the last answer cited come
        first (a repeat of it last).
        """
        cands: list[Candidate] = []
        seen: set[tuple[str, int]] = set()
        stored = self.engine.sentence_vectors([hit.chunk.id for hit in hits]) if hits else {}
        for hit in hits:
            chunk = hit.chunk
            units = chunk_units(chunk)
            vectors = stored.get(chunk.id)
            if vectors is not None and len(vectors) != len(units):
                vectors = None  # stored for another split: embed instead
            unit_terms = [frozenset(tokenize(chunk.text[u.start : u.end])) for u in units]
            for n, unit in enumerate(units):
                end = _completed_end(chunk.text, units, n)
                # "Advantages include:" is too short alone, but not with the list it takes.
                if not _quotable(chunk.text, unit) and not (
                    end > unit.end and chunk.text[unit.start : unit.end].endswith(":")
                ):
                    continue
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
                        context_terms=frozenset().union(*unit_terms[max(n - 1, 0) : n + 2]),
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
        q_terms = key_terms(query)
        idf = {t: lexical.idf(t) for t in q_terms}
        if reading is not None and reading.follow_up:
            focus = reading.focus_terms
            idf = {t: w if t in focus else 0.5 * w for t, w in idf.items()}
        # "What is X in SQLite?": X is asked about; "SQLite" only says where to look.
        subject, scope = defined_term(question)
        idf = {t: 0.5 * w if t in scope and t not in subject else w for t, w in idf.items()}
        kind = wanted_name(question)
        vectors = self._vectors(cands)
        qv = np.asarray(self.engine.query_vector(query), dtype=np.float32)
        qv /= np.linalg.norm(qv) or 1.0
        dense = vectors @ qv
        cfg = self.config
        for cand, sim in zip(cands, dense, strict=True):
            cand.dense = float(sim)
            cand.own_vector = cand.vector is None
            cand.coverage = weighted_coverage(idf, cand.terms)
            if subject:
                cand.bonus = cfg.definition_weight * defines(cand.text, subject)
            if kind and has_name(cand.text, kind, question):
                cand.bonus += cfg.definition_weight
            if reading is not None and reading.near:
                cand.bonus += cfg.near_weight * self._nearness(cand, reading)
            cand.score = self._combined(cand) + cand.bonus
        cands.sort(key=lambda c: -c.score)
        # Vectors pooled from the chunk's pass carry its context, so the sentences of one chunk
        # look alike; the leaders are embedded on their own (once, then cached) to tell them
        # apart. On docs_dev this took the answerable share from 17/33 to 21/33.
        top = [c for c in cands[: cfg.rerank_top] if c.vector is not None]
        if top:
            own = self._own_vectors([c.text for c in top])
            for cand, vec in zip(top, own, strict=True):
                cand.dense = float(vec @ qv)
                cand.own_vector = True
                cand.score = self._combined(cand) + cand.bonus
            cands.sort(key=lambda c: -c.score)
        return cands

    def _nearness(self, cand: Candidate, reading: Reading) -> float:
        """1 just after a passage the last answer cited, fading; half that before; -1 repeating it.

        A "what else" turn never sees a repeat (its candidates exclude earlier quotes).
        """
        window = self.config.near_window
        best = 0.0
        for cited in reading.near:
            if cited.source != cand.hit.chunk.source:
                continue
            if cand.start < cited.end and cited.start < cand.end:
                return -1.0 if reading.kind == "lookup" else 0.0
            if cand.start >= cited.end:
                best = max(best, 1 - (cand.start - cited.end) / window)
            else:
                best = max(best, 0.5 * (1 - (cited.start - cand.end) / window))
        return best

    def rank(self, question: str, query: str, cands: list[Candidate]) -> list[Candidate]:
        """Give the leading candidates their ``confidence`` (the model's probability).

        The order stays the heuristic one: ranked by the model, docs_dev lost 5 of 33 answers
        and seeds_dev 2 of 7 for no gain on SQuAD (see ``qa train answerability``); the model
        decides whether the chosen quote answers at all.
        """
        if self.model is None or not cands:
            return cands
        pool = cands[: self.config.pool]
        probs = self.model.predict(candidate_features(question, query, pool, self.engine.lexical()))
        for cand, p in zip(pool, probs, strict=True):
            cand.confidence = float(p)
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
        q_terms = key_terms(query)
        ruled_out = self.ruled_out(question, query)
        if ruled_out:
            return [], ruled_out
        wanted = answer_type(question)
        refusal = self._heuristic_refusal(question, query, cands, support=self.model is None)
        if refusal:
            return [], refusal
        first = first_choice(question, cands)
        if (
            self.model is not None
            and (_lead_confidence(question, cands) or 0.0) < self.min_confidence
        ):
            return [], _why_not(question, first, wanted, lexical)
        best = first.score
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
                if cand.score >= cfg.other_source_ratio * best and supported:
                    chosen.append(cand)
                    covered |= cand.terms
                continue
            # Near-ties are kept: the scores cannot tell which of them answers.
            tie = cand.score >= cfg.tie_ratio * best
            if cand.score >= cfg.keep_ratio * best and (tie or (cand.terms - covered) & q_terms):
                chosen.append(cand)
                covered |= cand.terms
        return _reading_order(chosen), ""

    def ruled_out(self, question: str, query: str) -> str:
        """Why no sentence can answer, whatever the scores (or "")."""
        if not key_terms(query):
            # "What is the answer?" names nothing to look for; any sentence would be a guess.
            return "The question names nothing to look up; ask about something the sources cover."
        missing = missing_entities(question, self.engine.lexical())
        if missing:
            return f"The sources never mention {', '.join(missing)}."
        return ""

    def _heuristic_refusal(
        self, question: str, query: str, cands: list[Candidate], support: bool = True
    ) -> str:
        """The hand-set rules (the reason, or "" to answer).

        The answer-type rule always applies; the support thresholds only when ``support`` (an
        answerer without a model: tests, experiments).
        """
        cfg = self.config
        best = cands[0]
        if support:
            window = frozenset().union(*(c.terms for c in cands[:3]))
            titles = frozenset().union(*(c.section_terms for c in cands[:3]))
            covered = coverage(key_terms(query), window, self.engine.lexical(), titles)
            if best.score < cfg.min_support or (
                covered < cfg.min_coverage and best.dense < cfg.strong_dense
            ):
                return "No passage addresses the question closely enough."
        wanted = answer_type(question)
        typed = [c for c in cands if has_type(c.text, wanted)]
        if wanted and (not typed or typed[0].score < cfg.keep_ratio * best.score):
            return f"No passage gives the {wanted} the question asks for."
        kind = wanted_name(question)
        if kind and not any(has_name(c.text, kind, question) for c in cands[: cfg.pool]):
            return f"No passage names the {kind} the question asks for."
        return ""

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


def first_choice(question: str, cands: list[Candidate]) -> Candidate:
    """The quote an answer leads with: the best candidate of the kind the question asks for."""
    wanted = answer_type(question)
    kind = wanted_name(question)
    return next(
        (
            c
            for c in cands
            if has_type(c.text, wanted) and (not kind or has_name(c.text, kind, question))
        ),
        cands[0],
    )


def gate(question: str, cands: list[Candidate]) -> list[Candidate]:
    """The candidates whose best confidence decides whether to answer.

    The lead quote, and for "who?" the best sentence overall too: the lead of a "who?" answer
    is the best sentence that names someone, which the model (ranking by position among other
    things) may rate below the best sentence overall; the question is as answerable as the
    better of the two says.
    """
    first = first_choice(question, cands)
    if not wanted_name(question) or first is cands[0]:
        return [first]
    return [first, cands[0]]


def _lead_confidence(question: str, cands: list[Candidate]) -> float | None:
    """How likely the answer's lead quote answers (see :func:`gate`)."""
    judged = gate(question, cands)
    if len(judged) == 1:
        return judged[0].confidence
    return max(c.confidence or 0.0 for c in judged)


def _why_not(question: str, best: Candidate, wanted: str, lexical: Lexical) -> str:
    """What the closest passage lacks, for a refusal's reason."""
    if wanted and not has_type(best.text, wanted):
        return f"No passage gives the {wanted} the question asks for."
    around = best.terms | best.context_terms
    absent = {}
    for word in re.findall(r"[\w’'-]+", question):
        terms = key_terms(word) - around
        if terms:
            absent[word] = max(lexical.idf(t) for t in terms)
    if absent:
        word = max(absent, key=lambda w: absent[w])  # the rarest: the most telling
        return f"The closest passage does not mention “{word}”."
    return "No passage addresses the question closely enough."


def _reading_order(chosen: list[Candidate]) -> list[Candidate]:
    """By source as first chosen, then position in the source."""
    order = {s: i for i, s in enumerate(dict.fromkeys(c.hit.chunk.source for c in chosen))}
    return sorted(chosen, key=lambda c: (order[c.hit.chunk.source], c.start))


_NOTHING_MORE = "The sources say nothing more on this than the passages already quoted."


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


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a.strip() == b.strip()
    return len(ta & tb) / len(ta | tb) >= 0.8
