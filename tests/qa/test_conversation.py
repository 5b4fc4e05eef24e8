"""How a question is read after earlier turns: the conversation model, without retrieval."""

from __future__ import annotations

import pytest

from core.types import PriorCitation, Turn, as_turns
from qa.answering.conversation import read_turn
from qa.answering.evidence import (
    answer_type,
    defined_term,
    defines,
    has_name,
    persons,
    wanted_name,
)

INTEL = "What did the President say Intel is going to build in Ohio?"
INTEL_QUOTE = PriorCitation(
    source="sotu.txt",
    start=100,
    end=180,
    quote="This is where Intel is going to build its $20 billion semiconductor mega site.",
)


def test_a_first_question_is_read_as_it_stands() -> None:
    reading = read_turn(INTEL, [])
    assert reading.query == INTEL and not reading.follow_up
    assert reading.interpreted_as is None and reading.kind == "lookup"


def test_a_question_that_stands_alone_carries_nothing_from_the_earlier_topic() -> None:
    history = [Turn(question="What did the President propose about the cost of insulin?")]
    reading = read_turn("How many Americans are in recovery from addiction?", history)
    assert reading.query == "How many Americans are in recovery from addiction?"
    assert not reading.follow_up and reading.interpreted_as is None
    assert "insulin" not in reading.query


def test_a_pronoun_carries_the_topic_and_the_passage_cited_before() -> None:
    reading = read_turn(
        "How many jobs will it create?", [Turn(question=INTEL, citations=[INTEL_QUOTE])]
    )
    assert reading.follow_up and {"Intel", "Ohio"} <= set(reading.carried)
    assert "say" not in reading.carried  # the verb of asking is not the topic
    assert reading.near == (INTEL_QUOTE,)
    assert reading.interpreted_as is not None and "Intel" in reading.interpreted_as
    assert reading.focus_terms == {"job", "creat"} and "intel" in reading.carried_terms


def test_the_topic_lasts_through_a_chain_of_follow_ups() -> None:
    history = [
        Turn(question=INTEL, citations=[INTEL_QUOTE]),
        Turn(question="How many jobs will it create?"),
    ]
    reading = read_turn("And how much are they ready to invest eventually?", history)
    assert "Intel" in reading.carried and "jobs" not in reading.carried
    assert reading.near == (INTEL_QUOTE,)  # the last turn cited nothing: the passage before


def test_she_is_the_person_the_last_answer_named() -> None:
    cited = PriorCitation(
        source="a.txt",
        start=0,
        end=120,
        quote="The decision caused upheaval at the IRS, with former acting commissioner "
        "Melanie Krause resigning over the agreement with Immigration and Customs Enforcement.",
    )
    history = [Turn(question="Did anyone resign over it?", citations=[cited])]
    reading = read_turn("How old is she?", history)
    assert reading.carried[:2] == ("Melanie", "Krause")
    assert "Customs" not in reading.carried  # an organisation is not a "she"


def test_an_elliptic_question_replaces_the_part_it_names() -> None:
    first = "What is the first of the four common sense steps on COVID-19?"
    reading = read_turn("And the second one?", [Turn(question=first)])
    assert "second" in reading.query and "first" not in reading.query.split()
    assert "COVID-19" in reading.query
    assert reading.interpreted_as is not None and reading.interpreted_as.endswith("the second one?")


@pytest.mark.parametrize(
    "question", ["What else did they argue?", "Tell me more about that.", "Anything else?"]
)
def test_what_else_continues_the_topic_without_its_quotes(question: str) -> None:
    cited = PriorCitation(source="a.txt", start=10, end=50, quote="They argued it was unlawful.")
    first = "What did the groups challenging the agreement argue?"
    reading = read_turn(question, [Turn(question=first, citations=[cited])])
    assert reading.kind == "more" and reading.topic == first
    assert reading.was_quoted("a.txt", 20, 30) and not reading.was_quoted("a.txt", 50, 90)
    assert not reading.was_quoted("b.txt", 20, 30)
    assert reading.interpreted_as == f"More on: {first}"


@pytest.mark.parametrize(
    "question",
    ["Summarize the onboarding handbook", "What is this document about?", "Give me an overview"],
)
def test_broad_questions_are_summaries(question: str) -> None:
    assert read_turn(question, []).kind == "summary"


def test_expletive_it_and_a_clause_that_do_not_point_back() -> None:
    history = [Turn(question="What is WAL mode?")]
    for question in (
        "Is it possible to vacuum a database in SQLite?",
        "Did the judge say that the IRS may share addresses?",
    ):
        assert not read_turn(question, history).follow_up, question
    assert read_turn("Does that setting survive a restart?", history).follow_up


def test_history_accepts_strings_turns_and_their_json_form() -> None:
    turns = as_turns(
        [
            "first?",
            Turn(question="second?"),
            {"question": "third?", "citations": [INTEL_QUOTE.model_dump()]},
            "  ",
        ]
    )
    assert [t.question for t in turns] == ["first?", "second?", "third?"]
    assert turns[2].citations == [INTEL_QUOTE]


def test_persons_takes_titled_and_multi_word_names() -> None:
    text = "I nominated Circuit Court of Appeals Judge Ketanji Brown Jackson, said Mr. Smith."
    assert persons(text) == ["Ketanji Brown Jackson", "Smith"]


# answer kinds ---------------------------------------------------------------------------------
def test_who_and_where_want_names_and_how_old_a_number() -> None:
    assert wanted_name("Who did the President nominate?") == "person"
    assert wanted_name("Which judge ruled on the case?") == "person"
    assert wanted_name("Where is the mega site?") == "place"
    assert wanted_name("What is WAL mode?") == ""
    assert answer_type("How old is she?") == "number"


def test_a_name_must_be_new_and_a_headline_is_not_one() -> None:
    question = "Which judge ruled on the IRS-ICE case?"
    assert has_name("US District Judge Dabney Friedrich dismissed the case.", "person", question)
    assert not has_name("Judge Approves Trump IRS-ICE Data Sharing Plan", "person", question)
    assert not has_name("The judge ruled on the IRS-ICE case.", "person", question)


def test_a_definition_question_names_its_term_and_scope() -> None:
    subject, scope = defined_term("What is type affinity in SQLite?")
    assert subject == {"affin"} and scope == {"sqlite"}  # "type" is a filler word
    assert defined_term("How do I turn WAL mode on?") == (frozenset(), frozenset())
    assert (
        defines("The type affinity of a column is the recommended type for data.", subject) == 1.0
    )
    assert defines("SQLite supports the concept of type affinity on columns.", subject) == 0.0
    upsert = defined_term("What is UPSERT?")[0]
    assert defines("UPSERT is a clause added to INSERT.", upsert) == 1.0
    assert defines("UPSERT is created by the parser.", upsert) == 0.0


def test_a_summary_is_of_the_source_the_question_names_else_the_one_in_play() -> None:
    from qa.answering.summary import pick_source

    titles = {"handbook.md": "Onboarding handbook", "wal.html": "Write-Ahead Logging"}
    reading = read_turn("Summarize the onboarding handbook", [])
    assert pick_source(reading.question, reading, titles, ["wal.html"]) == "handbook.md"
    cited = PriorCitation(source="wal.html", start=0, end=10, quote="WAL is fast.")
    reading = read_turn(
        "What is this document about?", [Turn(question="What is WAL?", citations=[cited])]
    )
    assert pick_source(reading.question, reading, titles, ["handbook.md"]) == "wal.html"
    reading = read_turn("Give me an overview", [])
    assert pick_source(reading.question, reading, titles, ["handbook.md"]) == "handbook.md"
