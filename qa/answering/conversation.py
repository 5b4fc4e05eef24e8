"""The conversation model: how a question is read in the light of the earlier turns.

A question that stands on its own is answered as it stands: an earlier topic must not leak
into it. A question that does not ("How many jobs will it create?", "And the stock market?",
"What else did they argue?") is read with the topic of the turns before it: the words of the
question that set the topic, the person an earlier answer named (for "he", "she", "her"), and
the passages the previous answer cited, near which a follow-up's answer usually sits.

Only the words are looked at, so the reading is cheap, deterministic and the same for the app,
``qa ask --follow-up`` and ``qa ask --json -``. The reading is shown (``interpreted_as``) so a
wrong one can be seen and the question rephrased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from core.types import PriorCitation, Turn
from index.text import tokenize
from qa.answering.evidence import GENERIC, persons

Kind = Literal["lookup", "more", "summary"]

# Asking for more of what was said: no topic of its own.
_MORE = re.compile(
    r"\b(what|who|which|anything|something|any)\s+else\b|\btell me more\b|\bmore (about|on|detail"
    r"|details|information)\b|^\s*(more|go on|continue|keep going|and then)\W*$|\belaborate\b"
    r"|\bwhat other\b|\bany other\b|\bother (reasons|arguments|points|examples|ways)\b",
    re.IGNORECASE,
)
# Broad questions: a summary of a document, not a lookup.
_SUMMARY = re.compile(
    r"^\s*(please\s+)?(summari[sz]e|sum up|give (me )?(an? )?(short |brief |quick )?"
    r"(summary|overview|outline|gist)|(an? )?(summary|overview|outline|gist) of)\b"
    r"|\bwhat (is|are) (this|these|the|that) (document|article|page|manual|file|text|source|"
    r"report|paper|handbook|guide|book)s? about\b"
    r"|\bwhat (is|are) .{1,80}? about\W*$"
    r"|\b(main|key) (points|ideas|takeaways|topics|findings)\b"
    r"|\bwhat does (this|the) (document|article|page|manual|file|text|source|report|paper|"
    r"handbook|guide|book) (say|cover|discuss|describe)\W*$|\btl;?dr\b",
    re.IGNORECASE,
)
# Words that open a question continuing the last one: "And the second one?", "What about X?".
# Verbs of asking and saying: what a question asks about its topic, not the topic.
_PREDICATES = frozenset(
    tokenize(
        "say said says tell told propose proposed announce announced going go want wants mean "
        "means think know argue argued ask asked explain mention talk discuss claim claimed state "
        "stated suggest suggested recommend recommended call called use used work works need "
        "needs make made get got happen happened",
        keep_stopwords=True,
    )
)
_ORDINALS = frozenset(
    "first second third fourth fifth sixth seventh eighth ninth tenth last final next".split()
)
_MORE_WORDS = frozenset("tell more else elaborate continue other go keep going".split())
_OPENER = re.compile(r"^\s*(and|also|but|so|then|or|plus)\b[\s,]*|^\s*(what|how) about\b\s*", re.I)
_FULL_QUESTION = re.compile(
    r"^(who|whom|whose|what|which|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"will|would|should|has|have|had)\b",
    re.IGNORECASE,
)
_PERSON_PRONOUNS = frozenset("he him his she her hers himself herself".split())
_THING_PRONOUNS = frozenset("it its they them their theirs these those itself themselves".split())
_PREPOSITIONS = frozenset(
    "about after before of on in with for from like than to by into over under since until "
    "besides despite during against without".split()
)
_AUXILIARIES = frozenset("is was are were does do did will would can could should has have".split())
# "it" that refers to nothing: "Is it possible to …", "How long does it take …".
_EXPLETIVE_IT = re.compile(
    r"\b(is|was|does|will|would|can|could)\s+it\s+(possible|true|necessary|safe|ok|okay|better|"
    r"worth|required|recommended|a good idea|allowed|take|cost|matter|mean)\b|\bit\s+takes?\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9][\w’'.-]*[A-Za-z0-9]|[A-Za-z0-9]")


@dataclass(frozen=True)
class Reading:
    """How one question is read: the query retrieval sees and the evidence it should sit near.

    ``focus`` are the question's own words; ``carried`` those brought from earlier turns. A
    standalone question carries nothing and has no ``near`` passages.
    """

    question: str
    query: str
    kind: Kind = "lookup"
    follow_up: bool = False
    carried: tuple[str, ...] = ()
    near: tuple[PriorCitation, ...] = ()
    quoted: frozenset[tuple[str, int, int]] = frozenset()
    topic: str = ""  # for "more": the question whose answer continues
    interpreted_as: str | None = None

    @property
    def focus_terms(self) -> frozenset[str]:
        """Stemmed key terms of the question itself (what it asks now)."""
        return frozenset(t for t in tokenize(self.question) if t not in GENERIC)

    @property
    def carried_terms(self) -> frozenset[str]:
        """Stemmed terms brought from earlier turns that the question does not have itself."""
        return frozenset(t for t in tokenize(" ".join(self.carried)) if t not in GENERIC)

    def was_quoted(self, source: str, start: int, end: int) -> bool:
        """Whether a span overlaps a quote given earlier in the conversation."""
        return any(s == source and start < e and b < end for s, b, e in self.quoted)


@dataclass(frozen=True)
class _Topic:
    """What a conversation is about after a turn."""

    words: tuple[str, ...]  # content words of the question that set the topic
    query: str  # the last turn's full reading (what "And …?" continues)
    people: tuple[str, ...] = ()  # names mentioned so far, most recent last
    cited: tuple[PriorCitation, ...] = ()  # what the last answer quoted
    quoted: frozenset[tuple[str, int, int]] = field(default_factory=frozenset)


def read_turn(question: str, history: list[Turn]) -> Reading:
    """Read ``question`` after ``history`` (earlier turns, oldest first)."""
    topic: _Topic | None = None
    for turn in history:
        topic = _advance(topic, turn, _read(turn.question.strip(), topic))
    return _read(question.strip(), topic)


def _read(question: str, topic: _Topic | None) -> Reading:
    kind: Kind = "lookup"
    if _SUMMARY.search(question):
        kind = "summary"
    elif _MORE.search(question):
        kind = "more"
    if topic is None:
        return Reading(question, question, kind)
    quoted = topic.quoted
    words = _content_words(question)
    person, thing = _anaphors(question)
    opener = _OPENER.match(question)
    rest = question[opener.end() :] if opener else question
    if kind == "more":
        own = [w for w in words if w.lower() not in _MORE_WORDS]
        query = " ".join([topic.query, *own])
        return Reading(
            question,
            query,
            "more",
            follow_up=True,
            carried=topic.words,
            near=topic.cited,
            quoted=quoted,
            topic=topic.query,
            interpreted_as=f"More on: {topic.query}",
        )
    if kind == "summary":
        # "What is this document about?" means the document the conversation is quoting.
        return Reading(question, question, kind, near=topic.cited, quoted=quoted)
    if not (person or thing or opener):
        return Reading(question, question, kind, quoted=quoted)
    carried: list[str] = []
    if person and topic.people:
        carried += topic.people[-1].split()
    if opener and not _FULL_QUESTION.match(rest.strip()):
        # "And the second one?": the last question again, with this in place of its focus.
        base = topic.query
        if any(w.lower() in _ORDINALS for w in words):
            base = " ".join(w for w in base.split() if w.lower().strip("?,.") not in _ORDINALS)
        carried += [w for w in _content_words(base) if _new(w, words + carried)]
        query = f"{base} {rest.strip()}"
        shown = f"{base} — {rest.strip()}"
    else:
        # "What was her position?" says little but "her": the topic comes along with the
        # person; "What did he announce about Russian flights?" has a topic of its own.
        thin = len([w for w in words if _topical(w)]) <= 1
        if thing or opener or (person and thin):
            carried += [w for w in topic.words if _new(w, words + carried)]
        if not carried:
            return Reading(question, question, kind, quoted=quoted)
        query = " ".join([question, *carried])
        shown = f"{question} (about {' '.join(carried)})"
    return Reading(
        question,
        query,
        "lookup",
        follow_up=True,
        carried=tuple(carried),
        near=topic.cited,
        quoted=quoted,
        interpreted_as=shown,
    )


def _advance(topic: _Topic | None, turn: Turn, reading: Reading) -> _Topic:
    """The topic after ``turn`` was answered as ``reading``."""
    # The lead quote's first name ends the list (the likeliest "she"), then the rest before it.
    named = [persons(c.quote) for c in turn.citations]
    lead = list(reversed(named[0])) if named else []
    others = [n for names in reversed(named[1:]) for n in names]
    people = (*(topic.people if topic else ()), *persons(turn.question), *others, *lead)
    spans = frozenset((c.source, c.start, c.end) for c in turn.citations)
    quoted = (topic.quoted if topic else frozenset()) | spans
    if topic is None or not reading.follow_up:
        words = tuple(w for w in _content_words(turn.question) if _topical(w))
    else:
        words = topic.words  # a follow-up keeps the topic; its own words were the question
    cited = tuple(turn.citations) or (topic.cited if topic else ())
    query = reading.topic if reading.kind == "more" else reading.query
    return _Topic(words, query, people[-8:], cited, quoted)


def _content_words(text: str) -> list[str]:
    """The words of ``text`` that name something (no question words, fillers or pronouns)."""
    out = []
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower in _PERSON_PRONOUNS or lower in _THING_PRONOUNS:
            continue
        if any(t not in GENERIC for t in tokenize(word)):
            out.append(word)
    return out


def _topical(word: str) -> bool:
    """A word that can carry a topic: not a verb of asking or saying, not an ordinal."""
    stems = set(tokenize(word))
    return word.lower() not in _ORDINALS and not stems <= _PREDICATES


def _new(word: str, words: list[str]) -> bool:
    stems = set(tokenize(" ".join(words)))
    return not set(tokenize(word)) <= stems


def _anaphors(question: str) -> tuple[bool, bool]:
    """Whether the question refers back to a person, and to a thing, it does not name."""
    tokens = [w.lower() for w in re.findall(r"[\w’']+", question)]
    person = any(t in _PERSON_PRONOUNS for t in tokens)
    thing = False
    for i, tok in enumerate(tokens):
        before = tokens[i - 1] if i else ""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("it", "its"):
            thing = thing or not _EXPLETIVE_IT.search(question)
        elif tok in _THING_PRONOUNS:
            thing = True
        elif tok in ("this", "that"):
            # "that" after a verb of saying joins a clause ("say that the IRS …"); after a
            # preposition, an auxiliary or at the end it points back ("before that").
            thing = (
                thing or before in _PREPOSITIONS or before in _AUXILIARIES or not after or i == 0
            )
        elif tok == "same" and before == "the":
            thing = True
        elif tok == "one" and (not after or after in ("again", "too", "instead", "also")):
            thing = True  # "How do I create one?", "And the second one?"
    return person, thing
