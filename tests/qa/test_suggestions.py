"""Suggested questions: made from headings and sentences, spread over sources, answerable."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from core.types import ScoredChunk, SourceText
from index.chunking import chunk_source
from qa.service import QAService
from qa.suggestions import (
    SourceChunks,
    Suggestion,
    clean_heading,
    suggest_from_documents,
    suggest_questions,
    usable_heading,
)

# Words the templates add; every other word of a suggestion comes from its document.
TEMPLATE = {"what", "is", "are", "who", "does", "say", "about", "this", "document", "a", "an"}

GUIDE = """# Database Indexing Guide

## Table of Contents

Covering indexes, prefix indexes and the query planner are explained below in turn.

## 1. Introduction

This guide explains how a database engine finds rows quickly with the help of indexes.
Readers should know basic SQL before they start with the chapters that follow.

## 2.2 Covering Indexes

An index that holds every column a query needs spares the engine a lookup in the table.
Such indexes make the query run roughly twice as fast on large tables of data.

## 3.1 Prefix Indexes

A prefix index is a separate index that records the first few characters of each value.
Prefix indexes speed up searches that match the start of a word in long text columns.

## 4. The Query Planner

The query planner is a component that chooses the fastest algorithm for each statement.
It weighs the cost of every index against a full scan of the table before it decides.

## See also

Further material on indexing is listed in the references of the engine's documentation.
More examples of tuning queries can be found in the engine's cookbook for developers.
"""

NEWS = """Judge Approves Data Sharing Plan

Judge Mary Holloway denied a request by tenant groups to halt the housing survey.
The groups argued that the survey collected far more personal data than the law allows.
Judge Holloway ruled that the city may keep the answers for the purposes stated in the plan.
The city welcomed the decision and said the survey would resume within a few weeks.
"""


def document(source: str, text: str, title: str, kind: str = "markdown") -> SourceChunks:
    """A source as the index holds it: chunked by the real chunker, without vectors."""
    src = SourceText(source, text, kind, title)
    return SourceChunks(source, title, chunk_source(src))


def words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[\w’'-]+", text)}


def test_heading_numbering_is_stripped() -> None:
    assert clean_heading("2.2 Fixed-width-format files") == "Fixed-width-format files"
    assert clean_heading("1.7. Covering Indexes") == "Covering Indexes"
    assert clean_heading("A.3.1 BLAS") == "BLAS"
    assert clean_heading("Appendix A: Comparison with FTS3/4") == "Comparison with FTS3/4"
    assert clean_heading("IV. Results") == "Results"
    # A one-letter word is not a number: "R" names the language.
    assert clean_heading("R Installation and Administration") == "R Installation and Administration"


@pytest.mark.parametrize(
    "heading",
    ["Contents", "Table of Contents", "Introduction", "See also", "References", "Index", "Next"],
)
def test_generic_headings_are_not_usable(heading: str) -> None:
    assert not usable_heading(heading)


@pytest.mark.parametrize(
    ("heading", "usable"),
    [
        ("Covering Indexes", True),
        ("Why use a database?", True),
        ("The bm25() function", False),  # code
        ("Variations on read.table", False),  # an identifier
        ("The 'automerge' Configuration Option", False),  # a quoted keyword
        ("Situations where a client server database may work better than this", False),  # long
    ],
)
def test_usable_headings(heading: str, usable: bool) -> None:
    assert usable_heading(heading) is usable


def test_questions_come_from_definitions_and_headings_without_numbering() -> None:
    guide = document("guide.md", GUIDE, "Database Indexing Guide")
    got = suggest_from_documents([guide], limit=10, per_source=10, summaries=0)
    questions = [s.question for s in got]
    assert "What is a prefix index?" in questions
    assert "What is the query planner?" in questions
    # A topic heading without a defining sentence: asked about, numbering gone, in lower case
    # as the text writes its words.
    assert "What does “Database Indexing Guide” say about covering indexes?" in questions
    assert not any(re.search(r"\d", q) for q in questions)
    # Generic headings give no question.
    for generic in ("contents", "introduction", "see also"):
        assert not any(generic in q.casefold() for q in questions), questions
    definition = next(s for s in got if s.question == "What is a prefix index?")
    assert definition.kind == "definition" and definition.start is not None
    assert GUIDE[definition.start : definition.end].startswith("A prefix index is a separate")


def test_a_person_doing_something_gives_a_who_question() -> None:
    news = document("news.txt", NEWS, "Judge Approves Data Sharing Plan", kind="text")
    got = suggest_from_documents([news], limit=4, per_source=4, summaries=0)
    questions = [s.question for s in got]
    assert "Who denied a request by tenant groups to halt the housing survey?" in questions
    # Cut before its subordinate or trailing phrase, never mid-way through a pronoun clause.
    assert all(len(q.split()) <= 14 for q in questions if q.startswith("Who"))
    assert not any("The groups" in q or "said the survey" in q for q in questions)


def test_a_title_that_names_its_source_gives_one_summary_question() -> None:
    guide = document("guide.md", GUIDE, "Database Indexing Guide")
    news = document("news.txt", NEWS, "Judge Approves Data Sharing Plan", kind="text")
    got = suggest_from_documents([guide, news], limit=6)
    summaries = [s for s in got if s.kind == "summary"]
    assert len(summaries) == 1
    assert summaries[0].question in {
        "What is “Database Indexing Guide” about?",
        "What is “Judge Approves Data Sharing Plan” about?",
    }


def test_no_summary_question_from_a_dateline_or_an_ambiguous_title() -> None:
    dateline = document("a.txt", NEWS, "Published Date: 13.05.2025 06:40 / Politics", kind="text")
    twin_a = document("b.md", GUIDE, "Indexing Guide")
    twin_b = document("c.md", GUIDE.replace("Database", "Storage"), "Indexing Guide")
    got = suggest_from_documents([dateline, twin_a, twin_b], limit=12, per_source=4, summaries=3)
    assert not [s for s in got if s.kind == "summary"]


def test_the_only_source_without_a_title_still_gets_a_summary_question() -> None:
    news = document("news.txt", NEWS, "Judge Mary Holloway denied a request by tenant groups.")
    got = suggest_from_documents([news], summaries=1)
    assert got[0] == Suggestion("What is this document about?", "news.txt", "summary")


def test_at_most_two_per_source_and_spread_over_sources() -> None:
    guide = document("guide.md", GUIDE, "Database Indexing Guide")
    news = document("news.txt", NEWS, "Judge Approves Data Sharing Plan", kind="text")
    other = document("other.md", GUIDE.replace("Database", "Storage"), "Storage Indexing Guide")
    got = suggest_from_documents([guide, news, other], limit=6)
    assert 4 <= len(got) <= 6
    for source in ("guide.md", "news.txt", "other.md"):
        assert 1 <= sum(s.source == source for s in got) <= 2
    assert len({s.question for s in got}) == len(got)


def test_deterministic_whatever_the_order_of_the_documents() -> None:
    docs = [
        document("guide.md", GUIDE, "Database Indexing Guide"),
        document("news.txt", NEWS, "Judge Approves Data Sharing Plan", kind="text"),
    ]
    first = suggest_from_documents(docs)
    assert first == suggest_from_documents(list(reversed(docs)))
    assert first == suggest_from_documents(docs)


def test_every_suggestion_is_a_question_made_of_the_documents_words() -> None:
    texts = {
        "guide.md": (GUIDE, "Database Indexing Guide"),
        "news.txt": (NEWS, "Judge Approves Data Sharing Plan"),
    }
    docs = [document(s, text, title) for s, (text, title) in texts.items()]
    got = suggest_from_documents(docs, limit=20, per_source=20, summaries=2)
    assert got
    for suggestion in got:
        assert suggestion.question.endswith("?")
        text, title = texts[suggestion.source]
        extra = words(suggestion.question) - words(text) - words(title) - TEMPLATE
        assert not extra, (suggestion.question, extra)


def test_a_question_whose_passage_retrieval_misses_is_dropped() -> None:
    guide = document("guide.md", GUIDE, "Database Indexing Guide")
    chunks = {c.id: c for c in guide.chunks}
    asked: list[str] = []

    def search_nothing(question: str) -> Sequence[ScoredChunk]:
        asked.append(question)
        return []

    def search_all(question: str) -> Sequence[ScoredChunk]:
        return [ScoredChunk(chunk=c, score=1.0, rank=r) for r, c in enumerate(chunks.values())]

    assert suggest_from_documents([guide], summaries=0, search=search_nothing) == []
    assert asked  # every question was checked
    # Only the summary, which reads its source whatever retrieval finds, survives.
    only = suggest_from_documents([guide], summaries=1, search=search_nothing)
    assert [s.kind for s in only] == ["summary"]
    assert suggest_from_documents([guide], search=search_all) == suggest_from_documents([guide])


def test_suggestions_over_the_seed_articles_are_answered(
    sources_dir: Path,
    real_embeddings: Embeddings,
    make_service: Callable[..., QAService],
) -> None:
    service = make_service(sources_dir, real_embeddings)
    service.index()
    settings = service.settings
    got = suggest_questions(service.engine, k=settings.top_k, mode=settings.retriever)
    assert len(got) >= 2
    assert got == suggest_questions(service.engine, k=settings.top_k, mode=settings.retriever)
    for suggestion in got:
        answer = service.ask(suggestion.question)
        assert not answer.refused, (suggestion.question, answer.warnings)
        # A sensible quote: the suggestion's own source answers it.
        assert any(c.source == suggestion.source for c in answer.citations), suggestion
