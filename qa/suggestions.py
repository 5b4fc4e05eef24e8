"""Suggested questions for the first screen, made from the documents themselves.

A new user sees a few questions the collection can answer, spread over its sources. They are
made extractively, so every word but a template's comes from a document, and each is made the
way the answerer reads questions, so that asking it gets an answer rather than a refusal:

- ``definition``: a central sentence that says what something is ("A prefix index is a
  separate index …") gives "What is a prefix index?", the question the answerer's definition
  rule (``evidence.defined_term`` / ``defines``) answers with that very sentence. Only terms
  the document is about count: the term must be in its title or headings, or be an acronym.
- ``who``: a central sentence whose subject is a person ("Judge Friedrich denied a preliminary
  injunction sought by …") gives "Who denied a preliminary injunction sought by …?" (news
  articles have no headings and rarely define anything, but say who did what).
- ``heading``: a heading that is a question is asked as it stands; a heading that names a
  topic gives "What does “<title>” say about <topic>?". Numbering is stripped; generic headings
  (Contents, Introduction, References …), code-like and long ones are skipped.
- ``summary``: "What is “<title>” about?", read by the answerer as a summary request. Only when
  the title reads as a name (not a first sentence or a dateline) and picks out this source
  alone, checked with the answerer's own ``pick_source``.

Each question is then retrieved for as the answerer will retrieve for it, and kept only if
the passage it was made from is among the results: a question on a term the document uses
everywhere ("What is Linux?" in an installation manual) would be answered from another passage.

Cheap and deterministic: it reads the stored chunks and sentence vectors (no file parsing), and
the check costs one query embedding per question considered (about 10 ms). The result depends
only on the sources' content (and the retrieval settings), so a caller can cache it by the
sources' content hashes (``SourceRow.content_hash``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal, Protocol

import numpy as np

from core.settings import RetrieverMode
from core.types import Chunk, ScoredChunk
from index.structure import chunk_units
from index.text import tokenize
from qa.answering.conversation import read_turn
from qa.answering.evidence import (
    ORGANISATION_WORDS,
    defined_term,
    defines,
    has_type,
    key_terms,
    persons,
)
from qa.answering.summary import pick_source

SuggestionKind = Literal["summary", "definition", "who", "heading"]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A question to offer, the source it was made from, and the passage it was made from.

    ``start``/``end`` are offsets in the source's text of the sentence or heading the question
    came from (``None`` for a summary question, made from the title).
    """

    question: str
    source: str
    kind: SuggestionKind
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class SourceChunks:
    """What suggestions are made from for one source: its title, chunks and sentence vectors.

    ``vectors`` are the stored sentence vectors by chunk id (one row per unit); without them
    every sentence counts as equally central.
    """

    source: str
    title: str
    chunks: Sequence[Chunk]
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)


class Library(Protocol):
    """What suggestions read from the index (``qa.retrieval.SearchEngine`` fits)."""

    def search(self, query: str, k: int, mode: RetrieverMode = ...) -> list[ScoredChunk]: ...  # noqa: D102

    def source_titles(self) -> dict[str, str]: ...  # noqa: D102

    def source_chunks(self, source: str) -> list[Chunk]: ...  # noqa: D102

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]: ...  # noqa: D102

    def snapshot(self, generation: str | None = None) -> AbstractContextManager[str]: ...  # noqa: D102


def suggest_questions(
    library: Library,
    sources: Iterable[str] | None = None,
    *,
    limit: int = 6,
    per_source: int = 2,
    summaries: int = 2,
    k: int = 8,
    mode: RetrieverMode = "hybrid",
    verify: bool = True,
) -> list[Suggestion]:
    """Suggested questions over the indexed sources (all of them, or ``sources``).

    Args:
        library: The search engine (titles, chunks and stored sentence vectors).
        sources: Which indexed sources to draw from; default all.
        limit: At most this many questions.
        per_source: At most this many from one source.
        summaries: At most this many "What is “<title>” about?" questions: one leads (the
            collection's overview), the others only fill room the sources leave.
        k: Passages the answerer reads (``Settings.top_k``).
        mode: How the answerer retrieves (``Settings.retriever``).
        verify: Offer a question only if retrieving it as the answerer does (``k``, ``mode``)
            finds the passage it was made from; about 10 ms per question considered. Without
            it nothing is embedded, but a question on a common term may be answered from
            another passage than its own.

    Returns:
        The questions, spread over the sources, the same for the same content and settings.

    """

    def search(question: str) -> Sequence[ScoredChunk]:
        return library.search(question, k, mode)

    # One generation for every read: an index run finishing meanwhile cannot mix two states.
    with library.snapshot():
        titles = library.source_titles()
        wanted = sorted(titles if sources is None else (s for s in sources if s in titles))
        documents = []
        for source in wanted:
            chunks = library.source_chunks(source)
            vectors = library.sentence_vectors([c.id for c in chunks]) if chunks else {}
            documents.append(SourceChunks(source, titles[source], chunks, vectors))
        return suggest_from_documents(
            documents,
            limit=limit,
            per_source=per_source,
            summaries=summaries,
            titles=titles,
            search=search if verify else None,
        )


def suggest_from_documents(
    documents: Sequence[SourceChunks],
    *,
    limit: int = 6,
    per_source: int = 2,
    summaries: int = 2,
    titles: Mapping[str, str] | None = None,
    search: Callable[[str], Sequence[ScoredChunk]] | None = None,
) -> list[Suggestion]:
    """Suggested questions over ``documents``: the pure core of :func:`suggest_questions`.

    ``titles`` are every indexed source's title (default: the documents'): a summary question
    must name its source unambiguously among all of them, as the answerer picks among all.
    ``search`` retrieves for a question as the answerer would; when given, a question is kept
    only if its passage is among the results (asked only of the questions considered).

    Each source's candidates are ranked; sources take turns (the one with the best candidate
    first), a question on a subject already suggested waiting until the others are used.
    """
    all_titles = dict(titles) if titles is not None else {d.source: d.title for d in documents}
    ranked: dict[str, list[_Candidate]] = {}
    summary: dict[str, _Candidate] = {}
    for doc in sorted(documents, key=lambda d: d.source):
        cands = _candidates(doc)
        if cands:
            ranked[doc.source] = cands
        made = _summary(doc, all_titles)
        if made is not None:
            summary[doc.source] = made
    best = {s: c[0].score for s, c in ranked.items()}
    order = sorted(set(ranked) | set(summary), key=lambda s: (-best.get(s, 0.0), s))
    # The first source to speak leads with its summary question: the collection's overview.
    queues = {s: list(ranked.get(s, [])) for s in order}
    with_summary = [s for s in order if s in summary][: min(summaries, 1)]
    for source in with_summary:
        queues[source].insert(0, summary[source])
    checked: dict[_Candidate, bool] = {}

    def found(cand: _Candidate) -> bool:
        if search is None or cand.suggestion.kind == "summary":
            return True  # a summary reads its source whatever retrieval finds
        if cand not in checked:
            checked[cand] = _finds(cand, search(cand.suggestion.question))
        return checked[cand]

    picked = _take(order, queues, limit, per_source, found, fresh_only=True)
    picked = _take(order, queues, limit, per_source, found, fresh_only=False, picked=picked)
    room = min(limit, len(picked) + summaries - len(with_summary))
    if len(picked) < room:
        # Nothing else to offer: the other summaries fill in.
        rest = {s: [summary[s]] for s in order if s in summary and s not in with_summary}
        picked = _take(order, rest, room, per_source, found, fresh_only=False, picked=picked)
    return [c.suggestion for c in picked]


# ranking and picking ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Candidate:
    suggestion: Suggestion
    score: float
    subject: frozenset[str]  # what it asks about: two on one subject only when nothing else
    path: str = ""  # a heading's section path


def _finds(cand: _Candidate, hits: Sequence[ScoredChunk]) -> bool:
    """Whether retrieval for the question found the passage the question was made from."""
    made = cand.suggestion
    for hit in hits:
        chunk = hit.chunk
        if chunk.source != made.source:
            continue
        if cand.path:
            paths = [chunk.section, *(p for _, p in chunk.section_changes)]
            if any(p == cand.path or p.startswith(cand.path + " › ") for p in paths):
                return True
        elif made.start is not None and chunk.start <= made.start < chunk.end:
            return True
    return False


def _take(
    order: list[str],
    queues: Mapping[str, list[_Candidate]],
    limit: int,
    per_source: int,
    found: Callable[[_Candidate], bool],
    *,
    fresh_only: bool,
    picked: list[_Candidate] | None = None,
) -> list[_Candidate]:
    """Round-robin over the sources, each taking its best remaining candidate per round."""
    picked = list(picked or [])
    for _round in range(per_source):
        for source in order:
            if len(picked) >= limit:
                return picked
            if sum(c.suggestion.source == source for c in picked) >= per_source:
                continue
            asked = {c.suggestion.question.casefold() for c in picked}
            subjects = [c.subject for c in picked]
            for cand in queues.get(source, []):
                if cand in picked or cand.suggestion.question.casefold() in asked:
                    continue
                if fresh_only and any(cand.subject & s for s in subjects):
                    continue
                if not found(cand):
                    continue
                picked.append(cand)
                break
    return picked


# one document --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Sentence:
    start: int
    end: int
    text: str
    section: str  # heading path, ' › '-joined
    centrality: float = 0.0


@dataclass(slots=True)
class _Heading:
    start: int
    end: int
    text: str
    path: str


def _candidates(doc: SourceChunks) -> list[_Candidate]:
    """Every question ``doc`` offers (no summary), best first."""
    sentences, headings = _read(doc)
    text = "\n".join(c.text for c in doc.chunks)
    lower = _lower_case_words(text)
    # What the document is about: its headings, its title when it has one (not a first
    # sentence standing in), and its file name ("Immune_system.txt").
    named = f"{_clean_title(doc.title)} {re.sub(r'[_.-]+', ' ', PurePosixPath(doc.source).stem)}"
    topical = frozenset(tokenize(named)).union(*(tokenize(h.text) for h in headings))
    cands: list[_Candidate] = []
    for sentence in sentences:
        made = _definition(doc.source, sentence, topical, lower)
        if made is None:
            made = _who(doc.source, sentence)
        if made is not None:
            cands.append(made)
    cands += _heading_questions(doc, sentences, headings, lower)
    cands.sort(key=lambda c: (-c.score, c.suggestion.start or 0, c.suggestion.question))
    out: list[_Candidate] = []
    for cand in cands:
        if not any(cand.suggestion.question == c.suggestion.question for c in out):
            out.append(cand)
    return out


def _read(doc: SourceChunks) -> tuple[list[_Sentence], list[_Heading]]:
    """The document's prose sentences (with centrality) and its headings, in reading order."""
    sentences: list[_Sentence] = []
    headings: list[_Heading] = []
    rows: list[np.ndarray] = []
    placed: list[int] = []
    for chunk in sorted(doc.chunks, key=lambda c: c.start):
        units = chunk_units(chunk)
        stored = doc.vectors.get(chunk.id)
        if stored is not None and len(stored) != len(units):
            stored = None  # vectors of another split
        for n, unit in enumerate(units):
            body = chunk.text[unit.start : unit.end]
            start = chunk.start + unit.start
            if unit.kind == "heading":
                headings.append(_Heading(start, start + len(body), body, chunk.section_of(n)))
                continue
            if unit.kind not in ("text", "item") or not _SENTENCE.search(body):
                continue
            if len(body.split()) < _MIN_WORDS:
                continue
            if stored is not None and stored[n].any():
                rows.append(stored[n])
                placed.append(len(sentences))
            sentences.append(_Sentence(start, start + len(body), body, chunk.section_of(n)))
    if rows:
        # Central: close to the mean of the document's sentence vectors, as summaries pick.
        matrix = np.stack(rows).astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
        centre = matrix.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        for i, score in zip(placed, matrix @ centre, strict=True):
            sentences[i].centrality = float(score)
    return sentences, headings


# definitions: "X is a …" -> "What is X?" -------------------------------------------------------
_MIN_WORDS = 6
_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*$")
_WORD = r"[\w][\w’'+/-]*"
_DEFINING = re.compile(
    rf"^(?P<x>(?:(?:A|An|The)\s+)?{_WORD}(?:\s+{_WORD}){{0,3}})\s+(?P<verb>is|are)\s+"
    r"(?P<det>an?|the)\s+(?P<next>[\w’'-]+)"
)
# Words that open no nameable subject ("It is a …", "The first is …", "This is the default").
_NOT_SUBJECTS = frozenset(
    "it this that these those there here which what who each every some any all both one such "
    "its their his her our my your other another first second third fourth fifth last final next "
    "former latter remainder rest result same following above below latter".split()
)
# "X is the same …", "X is the default": a comparison or a setting, not what X is.
_NOT_DEFINITIONS = frozenset(
    "same first second third last only default case result reason way other following opposite "
    "best worst good bad great poor better worse fine nice useful little lot bit number couple "
    "few variety".split()
)
_ARTICLES = frozenset({"a", "an", "the"})


def _definition(
    source: str, sentence: _Sentence, topical: frozenset[str], lower: frozenset[str]
) -> _Candidate | None:
    """The question "What is X?" from a sentence saying what X is, if the document is about X."""
    m = _DEFINING.match(sentence.text)
    if not m or m.group("next").lower() in _NOT_DEFINITIONS:
        return None
    words = m.group("x").split()
    head = words[1:] if words[0].lower() in _ARTICLES else words
    if not head or any(w.lower() in _NOT_SUBJECTS for w in head):
        return None
    if words[0] == "The" and len(head) == 1 and head[0].islower():
        return None  # "The city is …": which city is in the sentences before, not here
    if any(not tokenize(w) for w in head):
        return None  # a stop word inside: a clause ("What it does is"), not a name
    if persons(" ".join(words)) and not _acronym(head[0]):
        return None  # "Brian Ripley is the author …": a person, not a thing
    subject = frozenset(tokenize(" ".join(head)))
    # The document is about X: X names a heading or the title, or X is an acronym (a name).
    if not subject or not (subject & topical or all(_acronym(w) for w in head)):
        return None
    phrase = " ".join([_recase(words[0], lower), *words[1:]])
    question = f"What {m.group('verb')} {phrase}?"
    asked, _scope = defined_term(question)
    # Asked as the answerer reads it, the sentence must define the term outright.
    if asked != subject or defines(sentence.text, asked) < 1.0 or not _lookup(question):
        return None
    in_section = subject <= frozenset(tokenize(sentence.section))
    score = 1.0 + sentence.centrality + (0.2 if in_section else 0.0)
    made = Suggestion(question, source, "definition", sentence.start, sentence.end)
    return _Candidate(made, score, subject)


def _acronym(word: str) -> bool:
    """FTS5, ODBC, SQLite: capitals inside the word (not merely a capitalised first letter)."""
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and sum(c.isupper() for c in letters[1:]) >= 1


# who did what: "Judge X denied Y." -> "Who denied Y?" ------------------------------------------
_CAPITALISED = r"[A-Z][\w’'.-]*"
_SUBJECT_VERB = re.compile(
    rf"^(?:[A-Z]\w*ly,\s+|(?:However|Meanwhile|Moreover|Still|Later|Earlier|Also),\s+)?"
    rf"(?P<subject>{_CAPITALISED}(?:\s+{_CAPITALISED})*)\s+"
    r"(?P<predicate>(?:[a-z]+ly\s+)?(?:(?:has|have|had)\s+)?(?:[a-z]+ly\s+)?"
    r"(?P<verb>[a-z]+ed|said|told|made|gave|took|wrote|found|held|brought|sought|won|lost|met|"
    r"left|became|began|chose|led|ran|saw|sent|spoke|struck|went|knew|thought|built|paid|sold|"
    r"set|put|cut|hit|kept|lent|meant|bought|taught|caught|fought)\b.*)$",
    re.DOTALL,
)
_PREDICATE_WORDS = 12
# Capitalised words that open a clause, not a name: the subject comes later, if at all.
_OPENERS = frozenset(
    "As Although Though While When If After Before Because Since Unless Until Once Whereas So "
    "But And Or Yet Then Thus Hence Now There Here I We You They He She It".split()
)
_NUMERAL = re.compile(r"^(?:[IVXLC]+|\d[\d,.]*)$")
# Where a clause or phrase ends: a question cut before one of these still reads whole.
_BREAKS = frozenset(
    "to that which who whom whose while because although though after before when if unless "
    "as since so and or but with without between under over into from for of in on at by "
    "about against during through provided whether".split()
)
_SUBORDINATORS = frozenset(
    "while because although though unless whereas which whose whom when if since until".split()
)
_PRONOUNS = frozenset(
    "he she it they them their his her its we us our you your i me my this these those".split()
)


def _who(source: str, sentence: _Sentence) -> _Candidate | None:
    """The question "Who <did what>?" from a sentence whose subject is a person (past tense)."""
    m = _SUBJECT_VERB.match(sentence.text.strip())
    if not m:
        return None
    subject = m.group("subject")
    words = subject.split()
    if words[0] in _OPENERS or any(w in ORGANISATION_WORDS or _NUMERAL.match(w) for w in words):
        return None  # "As I said", "Although Maududi …", "World War II", "Supreme Court"
    named = persons(subject)
    # The whole opening run is the person ("US District Judge Dabney Friedrich"), not a thing
    # named after one ("The Trump Administration").
    if not named or not subject.rstrip(".").endswith(named[-1].split()[-1]):
        return None
    predicate = _cut(m.group("predicate"))
    if predicate is None:
        return None
    question = f"Who {predicate}?"
    if not _lookup(question):
        return None
    person = frozenset(tokenize(named[-1].split()[-1]))
    made = Suggestion(question, source, "who", sentence.start, sentence.end)
    return _Candidate(made, 1.0 + sentence.centrality, person)


def _cut(predicate: str) -> str | None:
    """The predicate up to its first clause break, at most a dozen words; None if it says little.

    A longer one is cut before its last preposition or conjunction, so the question ends on
    what the phrase was about ("… sought by liberal nonprofit groups", not "… groups to").
    """
    clause = re.split(r"\s*[,;:—–()\[\]“”\"]|\s-\s", predicate.strip(), maxsplit=1)[0]
    clause = clause.rstrip(" .!?")
    words = clause.split()
    # A subordinate clause ("noted that while the IRS cannot …") does not survive a cut.
    stop = next((i for i, w in enumerate(words) if i and w.lower() in _SUBORDINATORS), None)
    words = words[:stop]
    if len(words) > _PREDICATE_WORDS:
        words = words[:_PREDICATE_WORDS]
        breaks = [i for i, w in enumerate(words) if w.lower() in _BREAKS and i >= 3]
        if breaks:
            words = words[: breaks[-1]]
    while words and words[-1].lower() in _BREAKS | _ARTICLES:
        words.pop()
    if any(w.lower().strip("’'") in _PRONOUNS for w in words):
        return None  # "Who said they would …?": unclear without the article at hand
    content = [w for w in words[1:] if tokenize(w)]
    return " ".join(words) if len(content) >= 2 else None


# headings --------------------------------------------------------------------------------------
# "2.2", "1.7.", "A.3.1", "Appendix A:", "IV." before a heading's words.
_NUMBERING = re.compile(
    r"^\s*(?:(?i:appendix|annex|chapter|section|part)\s+(?:[A-Z]|[IVXLC]+|\d+)(?:\.\d+)*\.?"
    r"\s*[:.\-–—]?\s+|(?:\d{1,3}|[A-Z])(?:\.\d{1,3})+\.?\s+|\d{1,3}[.)]?\s+|[IVXLC]+\.\s+"
    r"|[A-Z]\.\s+)"
)
_GENERIC_HEADINGS = frozenset(
    "contents|table of contents|toc|introduction|intro|overview|summary|background|description|"
    "history|example|examples|syntax|limitations|references|reference|index|concept index|"
    "function index|general index|subject index|see also|acknowledgements|acknowledgments|"
    "appendix|appendices|notes|note|preface|foreword|conclusion|conclusions|abstract|previous|"
    "next|bibliography|glossary|about|footnotes|further reading|external links|related|"
    "related pages|copyright|license|licence|changelog|changes|contact|credits|other issues|"
    "miscellaneous|faq|top|home|menu|navigation|discussion|details".split("|")
)
_CODE_LIKE = re.compile(r"[()\[\]{}<>=_%$#@`\\|;\"*^~]|'[^']+'|\w\.\w")
_MAX_HEADING_WORDS = 8
_MAX_QUESTION_CHARS = 100
_MIN_SECTION_SENTENCES = 2


def _heading_questions(
    doc: SourceChunks,
    sentences: list[_Sentence],
    headings: list[_Heading],
    lower: frozenset[str],
) -> list[_Candidate]:
    """Questions from headings: one that is a question as it stands, else "What does … say"."""
    title = _clean_title(doc.title)
    title_terms = frozenset(tokenize(title))
    # Each section path's sentences: how many, and how central the most central one is.
    sections: dict[str, tuple[int, float]] = {}
    for sentence in sentences:
        count, best = sections.get(sentence.section, (0, -1.0))
        sections[sentence.section] = (count + 1, max(best, sentence.centrality))
    out: list[_Candidate] = []
    for heading in headings:
        name = clean_heading(heading.text)
        if not name or not usable_heading(name):
            continue
        terms = frozenset(tokenize(name))
        if not terms or terms <= title_terms or (title_terms and title_terms <= terms):
            continue  # "1. Datatypes In SQLite" under that title: the document itself
        below = [
            v
            for path, v in sections.items()
            if path == heading.path or path.startswith(heading.path + " › ")
        ]
        if sum(count for count, _ in below) < _MIN_SECTION_SENTENCES:
            continue  # a heading over a list of names or page numbers: nothing to quote
        # A section whose sentences are central is one of the document's main topics.
        weight = max(best for _, best in below)
        if name.endswith("?"):
            question, score = name, 0.8 + weight
        elif title and not name.endswith((".", "!", ":")):
            question, score = f"What does “{title}” say about {_mid_sentence(name, lower)}?", 0.5
            score += weight
        else:
            continue
        if len(question) > _MAX_QUESTION_CHARS or not _lookup(question):
            continue
        made = Suggestion(question, doc.source, "heading", heading.start, heading.end)
        out.append(_Candidate(made, score, terms, heading.path))
    return out


def clean_heading(text: str) -> str:
    """A heading's words without its numbering ("2.2 Fixed-width-format files" → the words)."""
    words = " ".join(text.split())
    stripped = _NUMBERING.sub("", words, count=1).strip()
    return stripped if any(c.isalpha() for c in stripped) else ""


def usable_heading(name: str) -> bool:
    """Whether a (cleaned) heading can become a question: not generic, code-like or long."""
    words = name.rstrip("?").split()
    if not words or len(words) > _MAX_HEADING_WORDS or len(name) > 70:
        return False
    if name.rstrip("?:. ").casefold() in _GENERIC_HEADINGS:
        return False
    if _CODE_LIKE.search(name):
        return False
    return bool(key_terms(name))


# summaries ------------------------------------------------------------------------------------
_MAX_TITLE_WORDS = 10


def _summary(doc: SourceChunks, titles: Mapping[str, str]) -> _Candidate | None:
    """The question "What is “<title>” about?" when the title names this source alone.

    The only source of a collection needs no name: "What is this document about?".
    """
    title = _clean_title(doc.title)
    if title:
        question = f"What is “{title}” about?"
    elif len(titles) == 1:
        question = "What is this document about?"  # the only source: no name needed
    else:
        return None
    reading = read_turn(question, [])
    if reading.kind != "summary":
        return None
    # The answerer takes the best-matching title; it must be this one whatever the order.
    forward = pick_source(question, reading, dict(titles), [])
    backward = pick_source(question, reading, dict(reversed(list(titles.items()))), [])
    if forward != doc.source or backward != doc.source:
        return None
    made = Suggestion(question, doc.source, "summary")
    return _Candidate(made, 0.0, frozenset({f"\0summary:{doc.source}"}))


def _clean_title(title: str) -> str:
    """The title if it reads as a name: short, no sentence, no dateline, no file name."""
    title = " ".join(title.replace("“", "").replace("”", "").replace('"', "").split())
    words = title.split()
    if not words or len(words) > _MAX_TITLE_WORDS or len(title) > 80:
        return ""
    if re.search(r"[.!?;:,]$", title) or re.search(r"\.\w{2,4}$", title):
        return ""  # a sentence cut short, or a file name standing in for a missing title
    digits = sum(2 * sum(c.isdigit() for c in w) >= len(w) for w in words)
    if digits * 4 > len(words) or has_type(title, "date"):
        return ""  # "Published Date: 13.05.2025 06:40 / Politics"
    return title if any(c.isalpha() for c in title) else ""


# shared ---------------------------------------------------------------------------------------
def _lookup(question: str) -> bool:
    """Whether the answerer reads ``question`` on its own as a lookup (not "more" or a summary)."""
    return read_turn(question, []).kind == "lookup"


def _lower_case_words(text: str) -> frozenset[str]:
    """Words the text writes in lower case mid-sentence: common words, not names."""
    return frozenset(re.findall(r"(?<=[a-z0-9,;] )[a-z][\w’'-]*", text))


def _recase(word: str, lower: frozenset[str]) -> str:
    """A title-case word as it would be written mid-sentence ("Covering" → "covering").

    Lower-cased only when the document itself writes it so (or it is a stop word); "SQLite",
    "WAL" and names stay.
    """
    if word in ("A", "An", "The"):
        return word.lower()
    capitalised = len(word) > 1 and word[0].isupper() and word[1:] == word[1:].lower()
    if capitalised and (word.lower() in lower or not tokenize(word)):
        return word.lower()
    return word


def _mid_sentence(name: str, lower: frozenset[str]) -> str:
    """A heading as it reads inside a question ("Covering Indexes" → "covering indexes").

    A heading's first word is capitalised as a sentence's is; a gerund opening one ("Avoiding
    …", "Using …") is a verb, not a name, even where the text never writes it in lower case.
    """
    words = name.split()
    out = [_recase(w, lower) for w in words]
    if out and out[0] == words[0] and words[0][1:].islower() and words[0].endswith("ing"):
        out[0] = words[0].lower()
    capitalised = [i for i, w in enumerate(words) if w[1:].islower() and w[0].isupper()]
    kept = [i for i in capitalised if out[i] == words[i]]
    if kept and len(kept) < len(capitalised):
        # Half lower-cased reads worse than title case: only its small words go lower case.
        out = [w.lower() if w[0].isupper() and not tokenize(w) else w for w in words]
    return " ".join(out)
