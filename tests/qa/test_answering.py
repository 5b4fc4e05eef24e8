from core.types import Citation
from qa.answering.disagreement import find_disagreements
from qa.answering.extractive import _answer_type, _has_type


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
