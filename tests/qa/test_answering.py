from core.types import Citation, SourceText
from index.chunking import chunk_source
from qa.answering.disagreement import find_disagreements
from qa.answering.evidence import answer_type as _answer_type
from qa.answering.evidence import has_type as _has_type
from qa.answering.extractive import _completed_end, _quotable


def _cit(n: int, source: str, quote: str) -> Citation:
    return Citation(n=n, source=source, quote=quote, start=0, end=len(quote), score=1.0)


def test_different_outcome_verbs_across_sources_are_a_disagreement() -> None:
    found = find_disagreements(
        [
            _cit(1, "a.txt", "Judge Friedrich denied a preliminary injunction sought by groups."),
            _cit(2, "b.txt", "Judge Dabney Friedrich dismissed efforts by rights groups."),
        ]
    )
    assert [(d.topic, d.accounts) for d in found] == [("what was decided", [1, 2])]


def test_different_figures_for_the_same_subject_are_a_disagreement() -> None:
    found = find_disagreements(
        [
            _cit(1, "a.txt", "The IRS shared 7,000 taxpayer records with ICE."),
            _cit(2, "b.txt", "The IRS shared 1,500 taxpayer records with ICE."),
        ]
    )
    assert found and found[0].topic == "the figures"


def test_agreeing_sources_and_one_source_are_not_disagreements() -> None:
    same = "Judge Friedrich denied the preliminary injunction."
    assert find_disagreements([_cit(1, "a.txt", same), _cit(2, "b.txt", same)]) == []
    assert (
        find_disagreements(
            [
                _cit(1, "a.txt", "Judge Friedrich denied the injunction."),
                _cit(2, "a.txt", "Judge Friedrich dismissed the case."),
            ]
        )
        == []
    )


def test_answer_types() -> None:
    assert _answer_type("How many ICE agents work in Texas?") == "number"
    assert _answer_type("When was the article published?") == "date"
    assert _answer_type("Who resigned?") == ""
    assert _has_type("It was published on 13.05.2025", "date")
    assert not _has_type("No figures here at all", "number")
    # "When" asks for a date about an event, not for a condition.
    assert _answer_type("When does SQLite checkpoint the WAL file automatically?") == ""
    assert _answer_type("When I delete a row, how do I remove its children?") == ""
    assert _answer_type("In which year was it founded?") == "date"


def _units(text: str, kind: str = "markdown"):  # type: ignore[no-untyped-def]
    (chunk,) = chunk_source(SourceText("d.md", text, kind))
    return chunk.text, chunk.units


def test_a_lead_in_takes_the_code_or_list_it_introduces() -> None:
    text, units = _units(
        "# Tokenizers\n\nFTS5 features three built-in tokenizers:\n\n"
        "- The unicode61 tokenizer, based on the Unicode 6.1 standard.\n"
        "- The ascii tokenizer.\n\n"
        "A text connection is created by\n\n```\nzz <- textConnection(LETTERS)\n```\n\n"
        "Other prose ends here.\n"
    )
    pieces = [text[u.start : u.end] for u in units]
    lead = pieces.index("FTS5 features three built-in tokenizers:")
    taken = text[units[lead].start : _completed_end(text, units, lead)]
    assert taken.endswith("The ascii tokenizer.") and "Unicode 6.1 standard" in taken
    code = pieces.index("A text connection is created by")
    assert text[units[code].start : _completed_end(text, units, code)].endswith(
        "zz <- textConnection(LETTERS)"
    )
    prose = pieces.index("Other prose ends here.")
    assert _completed_end(text, units, prose) == units[prose].end


def test_headings_captions_and_lone_labels_are_never_quoted_alone() -> None:
    text, units = _units(
        "# Covering Indexes\n\nFigure 13: A Covering Index\n\nNote\n\n"
        "An index holds every column a query needs.\n"
    )
    quotable = [text[u.start : u.end] for u in units if _quotable(text, u)]
    assert quotable == ["An index holds every column a query needs."]
