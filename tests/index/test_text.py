from index.text import split_sentences, tokenize


def test_sentences_keep_exact_offsets_and_skip_abbreviations() -> None:
    text = "  The U.S. District Judge Dabney Friedrich ruled. Dr. Smith disagreed!\nNew line here"
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "The U.S. District Judge Dabney Friedrich ruled.",
        "Dr. Smith disagreed!",
        "New line here",
    ]
    for s in spans:
        assert text[s.start : s.end] == s.text
    assert spans[1].paragraph_end and not spans[0].paragraph_end


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = "He said “we are considering our options.” Then he left."
    assert [s.text for s in split_sentences(text)] == [
        "He said “we are considering our options.”",
        "Then he left.",
    ]


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert tokenize("The agreements were denied by the judges") == ["agreement", "deni", "judg"]


def test_a_quotation_of_several_sentences_stays_one_sentence() -> None:
    text = "“We are disappointed. We are considering our options,” Morrison said. Next one."
    assert [s.text for s in split_sentences(text)] == [
        "“We are disappointed. We are considering our options,” Morrison said.",
        "Next one.",
    ]
    straight = 'He said "Stop. Now." Then left.'
    assert [s.text for s in split_sentences(straight)] == ['He said "Stop. Now."', "Then left."]
