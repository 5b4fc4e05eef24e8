from index.text import sentence_spans, tokenize


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_sentences_keep_exact_offsets_and_skip_abbreviations() -> None:
    text = "  The U.S. District Judge Dabney Friedrich ruled. Dr. Smith disagreed!\nNew line here"
    assert split_sentences(text) == [
        "The U.S. District Judge Dabney Friedrich ruled.",
        "Dr. Smith disagreed!",
        "New line here",
    ]


def test_a_line_break_inside_a_paragraph_is_not_a_sentence_end() -> None:
    text = "The AUTOINCREMENT keyword imposes extra CPU, memory,\ndisk space overhead. It is rare."
    assert split_sentences(text) == [
        "The AUTOINCREMENT keyword imposes extra CPU, memory,\ndisk space overhead.",
        "It is rare.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = "He said “we are considering our options.” Then he left."
    assert split_sentences(text) == [
        "He said “we are considering our options.”",
        "Then he left.",
    ]


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert tokenize("The agreements were denied by the judges") == ["agreement", "deni", "judg"]


def test_a_quotation_of_several_sentences_stays_one_sentence() -> None:
    text = "“We are disappointed. We are considering our options,” Morrison said. Next one."
    assert split_sentences(text) == [
        "“We are disappointed. We are considering our options,” Morrison said.",
        "Next one.",
    ]
    straight = 'He said "Stop. Now." Then left.'
    assert split_sentences(straight) == ['He said "Stop. Now."', "Then left."]


def test_a_one_letter_name_ends_a_sentence_only_when_one_plainly_starts() -> None:
    assert split_sentences("Data are read directly from R. For Excel files use x.") == [
        "Data are read directly from R.",
        "For Excel files use x.",
    ]
    assert split_sentences("He wrote to J. Smith. Smith replied.") == [
        "He wrote to J. Smith.",
        "Smith replied.",
    ]
    assert split_sentences("It was written by J. R. R. Tolkien in 1937.") == [
        "It was written by J. R. R. Tolkien in 1937."
    ]


def test_identifiers_may_start_a_sentence_but_plain_lower_case_words_do_not() -> None:
    assert split_sentences('Use the "excluded." prefix here. read.fwf reads them.') == [
        'Use the "excluded." prefix here.',
        "read.fwf reads them.",
    ]
