"""What the answerers know about a question and a candidate sentence: the shared vocabulary.

The question's key terms and the kind of value it asks for, the names it mentions, and the
candidate sentences with the evidence measured for each. The extractive answerer ranks with
these, and the answerability model turns them into features.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.types import ScoredChunk
from index.lexical import Lexical
from index.text import tokenize

# Question words and fillers that say nothing about the topic.
GENERIC = frozenset(
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
_NUMBER_WORD = re.compile(
    r"\d[\d,.]*\d|\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|hundred|thousand|million|billion)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)\b|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\b(january|february|march|april|may|"
    r"june|july|august|september|october|november|december|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|yesterday|today|century|decade)\b",
    re.IGNORECASE,
)
# A capitalised word that does not start a sentence: a name.
PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w’'-]*[A-Za-z0-9])")


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
    # Terms of the units on either side in the chunk: what a reader sees around the quote.
    context_terms: frozenset[str] = frozenset()
    section: str = ""
    section_terms: frozenset[str] = frozenset()
    block_end: bool = True
    index: int = 0  # the unit's position in its chunk
    vector: np.ndarray | None = None
    own_vector: bool = False  # ``dense`` is from the sentence embedded on its own
    confidence: float | None = None  # the answerability model's probability
    bonus: float = 0.0  # added to the score for where it stands in a conversation


def key_terms(question: str) -> frozenset[str]:
    """The question's stemmed content terms, without question words and fillers."""
    return frozenset(t for t in tokenize(question) if t not in GENERIC)


def coverage(
    q_terms: frozenset[str],
    terms: frozenset[str],
    lexical: Lexical,
    titles: frozenset[str] = frozenset(),
) -> float:
    """Share of the question's key terms (idf-weighted) that the evidence contains.

    A term found only in the headings above the evidence counts half: the section is about it,
    the sentence may not be.
    """
    return weighted_coverage({t: lexical.idf(t) for t in q_terms}, terms, titles)


def weighted_coverage(
    idf: Mapping[str, float], terms: frozenset[str], titles: frozenset[str] = frozenset()
) -> float:
    """:func:`coverage` with the question's terms and their idf looked up once by the caller."""
    q_terms = frozenset(idf)
    total = sum(idf.values())
    if not total:
        return 0.0
    found = sum(idf[t] for t in q_terms & terms)
    found += 0.5 * sum(idf[t] for t in (q_terms & titles) - terms)
    return found / total


def names(text: str) -> list[str]:
    """Capitalised words past the start of a sentence: names, titles, acronyms."""
    return [m.group(1) for m in PROPER.finditer(text)]


def missing_entities(question: str, lexical: Lexical) -> list[str]:
    """Names in the question that no source contains."""
    missing = []
    for word in names(question):
        tokens = [t for t in tokenize(word) if t not in GENERIC]
        if tokens and all(lexical.document_frequency(t) == 0 for t in tokens):
            missing.append(word)
    return missing


def answer_type(question: str) -> str:
    """The kind of value the question asks for: "number", "date", or "" (any).

    "When" asks for a date only about an event ("When was it founded?"); "When does SQLite
    checkpoint?" asks for a condition, and "When I delete a row, how ..." is not asking when.
    """
    q = question.lower()
    if re.search(
        r"\bhow (many|much|old|long|far|tall|large|big)\b|\bwhat (number|percentage|amount|age)\b",
        q,
    ):
        return "number"
    if re.search(r"\b(what|which|in what|in which) (year|date|day|month|century|decade)\b", q):
        return "date"
    if re.search(r"(^|[,;]\s*)when (was|were|did|will)\b", q) and not re.search(
        r",\s*(how|what)\b", q
    ):
        return "date"
    return ""


def numbers(text: str) -> set[str]:
    """The numbers a text states, as written ("1901", "three")."""
    return {m.group(0).lower() for m in _NUMBER_WORD.finditer(text)}


def has_type(text: str, wanted: str) -> bool:
    """Whether ``text`` holds a value of the wanted kind (always true for "")."""
    if wanted == "number":
        return bool(_NUMBER.search(text))
    if wanted == "date":
        return bool(_DATE.search(text))
    return True


# "What is X (in Y)?", "What does X mean?", "Define X": a question asking what something is.
_DEFINITION = re.compile(
    r"^\s*(?:what|who)\s+(?:is|are)\s+(?:an?\s+|the\s+)?(?P<x>.+?)"
    r"(?:\s+(?:in|within|for|on|under)\s+(?P<scope>[^?]+))?\s*\??\s*$"
    r"|^\s*what\s+(?:does|do)\s+(?:an?\s+|the\s+)?(?P<x2>.+?)\s+(?:mean|stand for|do)\s*\??\s*$"
    r"|^\s*(?:define|definition of)\s+(?:an?\s+|the\s+)?(?P<x3>[^?]+)\??\s*$",
    re.IGNORECASE,
)
_COPULA = re.compile(
    r"^(?:is|are|was|were|means|refers|denotes|describes|allows?|provides?|lets?|enables?|"
    r"stands|represents|contains?|holds?|includes?)\b(?!\s+\w+ed\b)",
    re.IGNORECASE,
)


def defined_term(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """For a question asking what something is: the term's key terms, and the scope's.

    "What is type affinity in SQLite?" → ({type, affin}, {sqlite}); other questions → empty.
    """
    m = _DEFINITION.match(question)
    if not m:
        return frozenset(), frozenset()
    x = m.group("x") or m.group("x2") or m.group("x3") or ""
    subject = key_terms(x)
    if not subject or len(subject) > 4:
        return frozenset(), frozenset()  # a long phrase is a question, not a term to define
    return subject, key_terms(m.group("scope") or "")


def defines(sentence: str, subject: frozenset[str]) -> float:
    """How plainly ``sentence`` says what ``subject`` is: 1 for "X is a …", 0.5 for "X allows …".

    The subject must open the sentence (a few words of lead-in allowed) and be followed by a
    defining verb; "X is created by" (a passive) does not define.
    """
    words = re.findall(r"[\w’'-]+", sentence[:300])
    found: set[str] = set()
    for i, word in enumerate(words[: len(subject) + 5]):
        found.update(tokenize(word))
        if subject <= found:
            rest = " ".join(words[i + 1 : i + 4])
            # "The type affinity of a column is …": a short qualifier may come between.
            for skip in range(0, 4):
                tail = " ".join(words[i + 1 + skip : i + 4 + skip])
                if _COPULA.match(tail):
                    strong = re.match(
                        r"(?:(?:is|are|was|were)\s+(?:an?|the|one)|means|refers|denotes)\b",
                        tail,
                        re.I,
                    )
                    return 1.0 if strong else 0.5
                if skip == 0 and not rest:
                    break
            return 0.0
    return 0.0


_PERSON_NOUNS = (
    "judge|justice|person|people|man|woman|lawyer|attorney|president|ceo|author|founder|senator|"
    "governor|minister|official|officer|spokesperson|spokesman|spokeswoman|commissioner|leader|"
    "director|chairman|chair|secretary|scientist|inventor|player|singer|actor|king|queen|emperor"
)
_PLACE_NOUNS = "city|country|state|place|town|region|province|county|continent|island|location"
_WHO = re.compile(
    rf"^\s*(?:and\s+)?(?:who|whom)\b(?!\s+(?:is|are)\s+(?:responsible|allowed|able))"
    rf"|\b(?:which|what)\s+(?:{_PERSON_NOUNS})\b",
    re.IGNORECASE,
)
_WHERE = re.compile(
    rf"^\s*(?:and\s+)?where\b|\b(?:which|what|in which)\s+(?:{_PLACE_NOUNS})\b", re.I
)
# Title-case runs: a name is two or more capitalised words, or a title and a name.
_NAME_RUN = re.compile(r"\b[A-Z][a-z’'-]+(?:\s+(?:[A-Z]\.|[A-Z][a-z’'-]+))+|@\w+")
_TITLED = re.compile(
    r"\b(?:Judge|Justice|President|Senator|Governor|Mayor|Commissioner|Secretary|Dr|Mr|Mrs|Ms|"
    r"Prof|CEO|Attorney|Lawyer)\.?\s+[A-Z][a-z’'-]+"
)
# Last words of organisations' and institutions' names: not a person.
ORGANISATION_WORDS = frozenset(
    "Enforcement Service Services Department Agency Court Courts Act Law Administration Inc Ltd "
    "Company Corporation Committee Association Union University College Bank Office Bureau "
    "Commission Council Congress Senate House Party Group Foundation Institute Fund States "
    "Kingdom Republic Street Avenue Road Center Centre Plan Program Programme Project".split()
)
_SENTENCE_OPENERS = frozenset("The A An This That These Those It In On At If When".split())


def wanted_name(question: str) -> str:
    """Which name the question asks for: "person" (who, which judge …), "place", or ""."""
    if _WHO.search(question):
        return "person"
    if _WHERE.search(question):
        return "place"
    return ""


def has_name(text: str, kind: str, question: str) -> bool:
    """Whether ``text`` names a person or place the question does not already name.

    A headline ("Judge Approves Trump Data Sharing Plan") is capitalised throughout and names
    nothing in particular; it does not count.
    """
    words = text.split()
    capitalised = sum(w[:1].isupper() for w in words)
    ends = text.rstrip()[-1:] in ".!?\"”'"
    if len(words) >= 3 and capitalised / len(words) > 0.5 and not ends:
        return False
    asked = set(tokenize(question))
    runs = [m.group(0) for m in _NAME_RUN.finditer(text)] + [
        m.group(0) for m in _TITLED.finditer(text)
    ]
    for run in runs:
        parts = run.split()
        while parts and parts[0] in _SENTENCE_OPENERS:
            parts = parts[1:]
        if not parts:
            continue
        if kind == "person" and len(parts) < 2 and not parts[0].startswith("@"):
            continue
        if kind == "person" and parts[-1] in ORGANISATION_WORDS:
            continue  # "United States Supreme Court" names no one
        if set(tokenize(" ".join(parts))) - asked:
            return True
    return False


# A title before a name, or a run of capitalised words: who an answer is about.
_TITLES = (
    "Judge|Justice|President|Senator|Governor|Mayor|Commissioner|Secretary|Minister|Chancellor|"
    "Dr|Mr|Mrs|Ms|Prof|Professor|Sir|Dame|Lord|Lady|CEO|General|Colonel|Captain|Officer|Agent|"
    "Representative|Rep|Sen|Gov"
)
_TITLE_WORDS = frozenset(_TITLES.split("|"))
_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w’'-]*\.?(?:\s+[A-Z][\w’'-]*\.?)*")
# Capitalised words that are not names when they open a run.
_NOT_NAMES = frozenset(
    "The A An This That These Those It Its In On At For From And But Or If When While After Before "
    "I We You They He She Our Their His Her My Your Yes No Not Today Tonight Tomorrow Yesterday "
    "However Meanwhile Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February "
    "March April May June July August September October November December".split()
)


def persons(text: str) -> list[str]:
    """Names of people in ``text``, in order: "Ketanji Brown Jackson", "Smith" (after "Mr.")."""
    found = []
    for m in _CAPITALISED_RUN.finditer(text):
        parts = [w.rstrip(".") for w in m.group(0).split()]
        titled = False
        for i, word in enumerate(parts):
            if word in _TITLE_WORDS:
                titled, after = True, parts[i + 1 :]
                if after:
                    parts = after
        while parts and parts[0] in _NOT_NAMES:
            parts = parts[1:]
        if not parts or parts[0] in _TITLE_WORDS or parts[-1] in ORGANISATION_WORDS:
            continue  # "Customs Enforcement", "Supreme Court": not a he or a she
        if len(parts) >= 2 or titled:
            found.append(" ".join(parts))
    return found
