"""Saved conversations (qa.conversations): a SQLite file that keeps turns, answers and citations."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from core.errors import ConversationError, QAError
from core.types import Answer, Citation, Disagreement
from qa.conversations import (
    FILENAME,
    SCHEMA_VERSION,
    TITLE_LIMIT,
    UNREADABLE_ANSWER,
    ConversationStore,
    SavedTurn,
    cut_title,
)


def make_answer(question: str = "What will Intel build in Ohio?", n: int = 2) -> Answer:
    citations = [
        Citation(
            n=i,
            source=f"docs/sotu {i}.pdf",
            quote=f"Intel is going to build its $20 billion mega site — part {i}.",
            start=100 * i,
            end=100 * i + 60,
            score=0.9 - i / 10,
            page=i,
            section="Economy › Chips",
            chunk_id=f"c{i}",
            verified=True,
        )
        for i in range(1, n + 1)
    ]
    return Answer(
        question=question,
        answer=" ".join(f"{c.quote} [{c.n}]" for c in citations),
        refused=False,
        citations=citations,
        disagreement=[Disagreement(topic="cost", accounts=[1, 2])],
        warnings=["one quote is from a table"],
        confidence=0.87,
        interpreted_as=None,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / FILENAME


@pytest.fixture
def store(path: Path) -> ConversationStore:
    return ConversationStore(path)


def test_an_answer_with_citations_comes_back_equal(store: ConversationStore) -> None:
    answer = make_answer()
    conv = store.create()
    store.append(conv, answer.question, answer=answer)
    store.append(conv, "And the jobs?", error="The index is busy: try again in a minute.")
    store.append(conv, "Pending?")

    saved = store.get(conv)
    assert saved is not None and saved.id == conv
    assert saved.turns == [
        SavedTurn(answer.question, answer, None),
        SavedTurn("And the jobs?", None, "The index is busy: try again in a minute."),
        SavedTurn("Pending?", None, None),
    ]
    restored = saved.turns[0].answer
    assert restored is not None and restored == answer
    assert restored.citations[1].section == "Economy › Chips" and restored.citations[1].verified


def test_the_id_is_url_safe_and_unknown_ids_are_none(store: ConversationStore) -> None:
    ids = {store.create() for _ in range(20)}
    assert len(ids) == 20
    assert all(i and all(ch.isalnum() or ch in "-_" for ch in i) for i in ids)
    assert store.get("no-such-id") is None
    assert store.get("'; DROP TABLE turns; --") is None
    assert len(store.list()) == 20


def test_the_list_is_newest_first_after_appends(store: ConversationStore) -> None:
    a, b, c = store.create(), store.create(), store.create()
    assert [s.id for s in store.list()] == [c, b, a]
    store.append(a, "first question of a")
    assert [s.id for s in store.list()] == [a, c, b]
    store.append(b, "first question of b")
    store.append(a, "second question of a")
    summaries = store.list()
    assert [s.id for s in summaries] == [a, b, c]
    assert [s.turns for s in summaries] == [2, 1, 0]
    assert summaries[0].updated_at >= summaries[0].created_at
    assert summaries[0].updated_at >= summaries[1].updated_at
    assert [s.id for s in store.list(limit=2)] == [a, b]


def test_the_title_is_the_first_question_and_a_rename_wins(store: ConversationStore) -> None:
    conv = store.create()
    assert store.list()[0].title == ""
    store.append(conv, "  What did the\nPresident say about insulin?  ")
    store.append(conv, "And what about Medicare?")
    assert store.list()[0].title == "What did the President say about insulin?"

    store.rename(conv, "  Health costs  ")
    store.append(conv, "A later question")
    saved = store.get(conv)
    assert saved is not None and saved.title == "Health costs"
    assert store.list()[0].title == "Health costs"

    titled = store.create("Given at creation")
    store.append(titled, "The first question")
    assert store.list()[0].title == "Given at creation"


def test_a_long_question_is_cut_on_a_word_boundary(store: ConversationStore) -> None:
    question = "How many " + "very " * 40 + "long words?"
    conv = store.create()
    store.append(conv, question)
    title = store.list()[0].title
    assert len(title) <= TITLE_LIMIT and title.endswith("…")
    assert question.startswith(title[:-1]) and title[:-1].split()[-1] == "very"
    assert store.get(conv).turns[0].question == question  # type: ignore[union-attr]
    assert len(cut_title("x" * 200)) == TITLE_LIMIT  # one huge word: cut hard


def test_a_blank_rename_is_refused_and_a_long_one_capped(store: ConversationStore) -> None:
    conv = store.create()
    store.append(conv, "The question")
    for blank in ("", "   ", "\n\t"):
        with pytest.raises(ConversationError, match="cannot be blank"):
            store.rename(conv, blank)
    assert store.list()[0].title == "The question"
    store.rename(conv, "word " * 50)
    assert len(store.list()[0].title) <= TITLE_LIMIT
    with pytest.raises(ConversationError, match="no longer exists"):
        store.rename("gone", "A title")


def test_delete_cascades_to_the_turns(store: ConversationStore, path: Path) -> None:
    keep, drop = store.create(), store.create()
    store.append(keep, "kept", answer=make_answer("kept"))
    for i in range(3):
        store.append(drop, f"dropped {i}", answer=make_answer(f"dropped {i}"))

    assert store.delete(drop) is True
    assert store.get(drop) is None
    assert store.delete(drop) is False
    assert [s.id for s in store.list()] == [keep]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT conversation_id FROM turns").fetchall()
    assert rows == [(keep,)]
    with pytest.raises(ConversationError, match="no longer exists"):
        store.append(drop, "after the delete")


def test_concurrent_appends_from_threads_lose_no_turn(store: ConversationStore) -> None:
    convs = [store.create(), store.create(), store.create()]
    per_thread = 40
    failures: list[BaseException] = []
    start = threading.Barrier(len(convs) * 2)

    def worker(conv: str, tag: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                store.append(conv, f"{tag}:{i}", answer=make_answer(f"{tag}:{i}", n=1))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    # Two threads per conversation as well as several conversations: positions must not clash.
    threads = [
        threading.Thread(target=worker, args=(conv, k * 10 + j))
        for k, conv in enumerate(convs)
        for j in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for k, conv in enumerate(convs):
        saved = store.get(conv)
        assert saved is not None and len(saved.turns) == 2 * per_thread
        for j in range(2):
            mine = [t.question for t in saved.turns if t.question.startswith(f"{k * 10 + j}:")]
            assert mine == [f"{k * 10 + j}:{i}" for i in range(per_thread)]  # in order
        assert all(t.answer is not None and t.answer.question == t.question for t in saved.turns)


def test_a_new_store_object_sees_everything(path: Path) -> None:
    first = ConversationStore(path)
    conv = first.create()
    answer = make_answer()
    first.append(conv, answer.question, answer=answer)
    first.rename(conv, "Renamed")
    del first

    again = ConversationStore(path)
    saved = again.get(conv)
    assert saved is not None and saved.title == "Renamed"
    assert saved.turns == [SavedTurn(answer.question, answer, None)]
    assert [(s.id, s.turns) for s in again.list()] == [(conv, 1)]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_the_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / FILENAME
    ConversationStore(path).create()
    assert path.is_file()


@pytest.mark.parametrize(
    "garbage",
    [
        b"x",  # SQLite would open this as an empty database and write over it
        b"not a database at all\n" * 50,
        b"SQLite format 3\x00" + bytes(range(256)) * 16,  # the magic, then garbage
    ],
    ids=["one-byte", "text", "bad-pages"],
)
def test_a_corrupt_file_raises_a_clear_error_and_is_left_unchanged(
    path: Path, garbage: bytes
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    with pytest.raises(ConversationError, match="damaged or is not a conversations file") as info:
        ConversationStore(path)
    assert isinstance(info.value, QAError) and str(path) in str(info.value)
    assert "left unchanged" in str(info.value)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in path.parent.iterdir()) == [FILENAME]  # no -wal, no -shm


def test_a_file_that_turns_corrupt_later_raises_the_clear_error(path: Path) -> None:
    store = ConversationStore(path)
    conv = store.create()
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    for leftover in path.parent.glob(f"{FILENAME}-*"):
        leftover.unlink()
    with pytest.raises(ConversationError, match="damaged"):
        store.get(conv)
    with pytest.raises(ConversationError, match="damaged"):
        store.append(conv, "question")
    assert path.read_bytes() == garbage


def test_a_newer_schema_raises_a_clear_error(path: Path) -> None:
    ConversationStore(path).create()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(ConversationError, match="newer version") as info:
        ConversationStore(path)
    assert "Upgrade" in str(info.value)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused_untouched(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:  # e.g. Chroma's chroma.sqlite3
        db.execute("CREATE TABLE embeddings (id INTEGER PRIMARY KEY, vector BLOB)")
        db.execute("INSERT INTO embeddings (vector) VALUES (x'0102')")
    before = path.read_bytes()
    with pytest.raises(ConversationError, match="another program"):
        ConversationStore(path)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert names == ["embeddings"]


def test_saving_leaves_the_rest_of_the_store_folder_alone(tmp_path: Path) -> None:
    chroma = tmp_path / "store" / "chroma"
    chroma.mkdir(parents=True)
    index_file = chroma / "chroma.sqlite3"
    index_file.write_bytes(b"index bytes")
    store = ConversationStore.in_store(tmp_path / "store")
    store.append(store.create(), "question", answer=make_answer())
    assert store.path == tmp_path / "store" / FILENAME
    assert index_file.read_bytes() == b"index bytes"
    assert sorted(p.name for p in chroma.iterdir()) == ["chroma.sqlite3"]


def test_hostile_text_is_stored_and_returned_verbatim(store: ConversationStore) -> None:
    hostile = (
        "Robert'); DROP TABLE conversations;-- \"quoted\" <script>alert('x')</script> "
        "\u202eevil\u202c ΑΒΓ 日本語 🧪 e\u0301 \\n \t\r\nline two %s {0} ${x}"
    )
    answer = make_answer(hostile).model_copy(update={"answer": hostile + " [1]"})
    conv = store.create()
    store.append(conv, hostile, answer=answer, error=None)
    store.append(conv, "second", error=hostile)
    store.rename(conv, "<script>alert('t')</script> \"Ω\"")

    saved = store.get(conv)
    assert saved is not None
    assert saved.title == "<script>alert('t')</script> \"Ω\""
    assert saved.turns[0].question == hostile
    assert saved.turns[0].answer == answer
    assert saved.turns[1].error == hostile
    assert store.get(conv) == saved  # the tables survived the "DROP TABLE"


def test_an_unreadable_saved_answer_opens_with_an_error(
    store: ConversationStore, path: Path
) -> None:
    conv = store.create()
    good = make_answer("good")
    store.append(conv, "old", answer=make_answer("old"))
    store.append(conv, "not json", answer=make_answer("not json"))
    store.append(conv, "good", answer=good)
    with sqlite3.connect(path) as db:
        # An answer saved by an older schema: required fields missing, a field renamed.
        db.execute(
            "UPDATE turns SET answer_json = ? WHERE question = 'old'",
            ('{"question": "old", "text": "renamed field", "cites": []}',),
        )
        db.execute("UPDATE turns SET answer_json = '{not json' WHERE question = 'not json'")

    saved = store.get(conv)
    assert saved is not None
    assert saved.turns[0] == SavedTurn("old", None, UNREADABLE_ANSWER)
    assert saved.turns[1] == SavedTurn("not json", None, UNREADABLE_ANSWER)
    assert saved.turns[2] == SavedTurn("good", good, None)
    assert "could not be read" in UNREADABLE_ANSWER
    assert "ask the question again" in UNREADABLE_ANSWER
