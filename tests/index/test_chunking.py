import itertools
import random

from core.settings import ChunkingSettings
from core.types import SourceText
from index.chunking import chunk_source


def _document(seed: int, paragraphs: int = 40) -> str:
    rng = random.Random(seed)
    words = [
        "court", "ruling", "data", "agency", "tax", "judge", "record", "privacy", "law", "share",
        "immigration",
    ]  # fmt: skip
    paras = []
    for _ in range(paragraphs):
        sents = [
            " ".join(rng.choice(words) for _ in range(rng.randint(6, 25))).capitalize() + "."
            for _ in range(rng.randint(2, 7))
        ]
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


def test_chunks_hold_exact_text_and_cover_every_sentence() -> None:
    text = _document(1)
    chunks = chunk_source(SourceText("doc.txt", text, "text"))
    assert len(chunks) > 10
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= ChunkingSettings().max_chars
    # Chunks are in order and do not overlap; only whitespace lies between them.
    for a, b in itertools.pairwise(chunks):
        assert a.end <= b.start and text[a.end : b.start].strip() == ""


def test_ids_are_deterministic() -> None:
    text = _document(2)
    first = [c.id for c in chunk_source(SourceText("doc.txt", text, "text"))]
    again = [c.id for c in chunk_source(SourceText("doc.txt", text, "text"))]
    other = [c.id for c in chunk_source(SourceText("other.txt", text, "text"))]
    assert first == again
    assert not set(first) & set(other)


def test_editing_one_sentence_changes_at_most_three_chunks() -> None:
    for seed in range(5):
        text = _document(seed, paragraphs=60)
        before = chunk_source(SourceText("doc.txt", text, "text"))
        middle = before[len(before) // 2]
        dot = middle.text.index(".")
        edited = text[: middle.start + dot] + " and a new clause" + text[middle.start + dot :]
        after = chunk_source(SourceText("doc.txt", edited, "text"))
        new_ids = {c.id for c in after} - {c.id for c in before}
        assert 1 <= len(new_ids) <= 3, (seed, len(new_ids))


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces() -> None:
    text = "word " * 1000
    chunks = chunk_source(SourceText("long.txt", text.strip(), "text"))
    assert len(chunks) >= 4
    assert all(c.text == text.strip()[c.start : c.end] for c in chunks)
    assert all(not c.text.startswith(" ") and not c.text.endswith(" ") for c in chunks)
