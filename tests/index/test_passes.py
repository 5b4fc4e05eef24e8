"""How texts are grouped into model passes (a pure function: no model needed)."""

from __future__ import annotations

from index.embeddings import passes


def test_a_short_text_is_not_padded_to_a_long_one() -> None:
    # A question's re-scored sentences: the 220-token one goes alone, the short ones together.
    assert passes([220, 45, 25, 11], batch_size=32, split=40) == [[0], [1, 2, 3]]


def test_passes_are_longest_first_and_never_larger_than_the_batch() -> None:
    lengths = [30, 200, 31, 199, 32, 198, 29]
    groups = passes(lengths, batch_size=2, split=40)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(len(g) <= 2 for g in groups)
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(lengths, reverse=True)
    for g in groups:  # nobody padded by more than the split
        assert lengths[g[0]] - min(lengths[i] for i in g) <= 40


def test_similar_lengths_share_a_pass() -> None:
    assert passes([100, 90, 80, 70, 61], batch_size=32, split=40) == [[0, 1, 2, 3, 4]]
    assert passes([], batch_size=32) == []
