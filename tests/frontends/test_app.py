"""Streamlit AppTest of app.py with the real model and a store in tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.types import Answer, Citation, Disagreement, History, Turn, as_turns
from frontends.render import conversation_markdown, md_text
from qa.service import QAService
from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.integration

QUESTION = "Who resigned over the data-sharing agreement?"
SEED_A, SEED_B = "000_9bb67ea3e936fa88.txt", "004_6dfc703d79982146.txt"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    shutil.copytree(SEEDS, tmp_path / "sources")
    return tmp_path / "sources"


@pytest.fixture
def app(sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("QA_SOURCES", str(sources))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store"))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def _ask(app: AppTest, question: str = QUESTION) -> Answer:
    app.chat_input[0].set_value(question).run()
    assert not app.exception
    answer = app.session_state["messages"][-1].answer
    assert isinstance(answer, Answer)
    return answer


def _badges(app: AppTest) -> list[str]:
    # st.badge is sent as Markdown: ":green-badge[:material/check: Verified ...]"
    return [m.value for m in app.markdown if "-badge[" in m.value]


def test_app_indexes_on_first_start_and_answers_with_citations(app: AppTest) -> None:
    app.run()
    assert not app.exception
    table = app.main.dataframe[0].value
    assert set(table["source"]) == {SEED_A, SEED_B}
    assert {"title", "type", "size", "chunks", "indexed at", "status", "error"} <= set(table)
    assert set(table["status"]) == {"ok"} and all(table["indexed at"])
    assert any("Indexed in" in s.value for s in app.sidebar.success)
    answer = _ask(app)
    assert not answer.refused and "Melanie Krause" in answer.answer
    assert answer.confidence is not None
    assert f"Confidence {answer.confidence:.0%} that" in " ".join(c.value for c in app.caption)
    labels = [e.label for e in app.expander]
    assert any(
        label.startswith("\\[1\\]") and "000\\_9bb67ea3e936fa88.txt" in label for label in labels
    )
    assert any("Verified" in b for b in _badges(app))
    # the answer's markers are superscripts and the passage marks the quote
    assert any("<sup>[1]</sup>" in h.proto.body for h in app.get("html"))
    quote = answer.citations[0].quote
    assert any(
        f"<mark>{quote}</mark>" in h.proto.body for h in app.get("html") if "<mark>" in h.proto.body
    )


def test_settings_are_visible(app: AppTest) -> None:
    app.run()
    captions = " ".join(c.value for c in app.sidebar.caption)
    assert "Answerer:** extractive" in captions
    assert "Retriever:** hybrid" in captions
    assert "Passages:** 8" in captions


def test_follow_up_new_conversation_and_export(app: AppTest, monkeypatch) -> None:
    app.run()
    seen: list[list[Turn]] = []
    real_ask = QAService.ask_stream

    def spy(
        self: QAService, question: str, history: History | None = None
    ) -> Iterator[str | Answer]:
        seen.append(as_turns(history))
        return real_ask(self, question, history)

    monkeypatch.setattr(QAService, "ask_stream", spy)
    first = _ask(app)
    _ask(app, "When did she resign?")
    assert seen[0] == [] and [t.question for t in seen[1]] == [QUESTION]
    # the follow-up carries what the first answer cited, so "she" can be resolved from it
    cited = [(c.source, c.start, c.end) for c in seen[1][0].citations]
    assert cited == [(c.source, c.start, c.end) for c in first.citations] and cited
    messages = app.session_state["messages"]
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert len(app.chat_message) == 4

    export = app.get("download_button")[0]
    assert export.proto.label == "Export as Markdown"
    md = conversation_markdown(messages)
    assert md.startswith("# Conversation") and "**Q:** Who resigned over the data\\-sharing" in md
    cit = messages[1].answer.citations[0]
    assert f"[1] `{cit.source}` characters {cit.start}–{cit.end}" in md

    new = next(b for b in app.button if b.label == "New conversation")
    new.click().run()
    assert not app.exception
    assert app.session_state["messages"] == []
    assert len(app.chat_message) == 0
    assert not app.get("download_button")
    _ask(app, QUESTION)
    assert seen[-1] == []  # a new conversation starts without history


def test_three_turns_show_how_a_follow_up_was_read_and_refuse_on_a_new_topic(
    app: AppTest,
) -> None:
    app.run()
    first = _ask(app)
    assert not first.refused and first.interpreted_as is None
    second = _ask(app, "What was her position?")
    # "her" is the person the first answer named; the page says so under the question
    assert second.interpreted_as is not None and "Melanie Krause" in second.interpreted_as
    assert not second.refused and "commissioner" in second.answer
    third = _ask(app, "Who painted the Mona Lisa?")
    assert third.refused and third.interpreted_as is None
    captions = [c.value for c in app.main.caption]
    read_as = [c for c in captions if c.startswith(md_text("Read as:"))]
    assert read_as == [md_text(f"Read as: {second.interpreted_as}")]
    assert len(app.main.warning) >= 1 and "don" in app.main.warning[-1].value


def test_stale_badge_when_the_file_changes_after_the_answer(app: AppTest, sources: Path) -> None:
    app.run()
    answer = _ask(app)
    cit = answer.citations[0]
    path = sources / cit.source
    path.write_text("Rewritten. " + path.read_text(encoding="utf-8"), encoding="utf-8")
    app.run()
    assert any("Stale" in b for b in _badges(app))


def test_an_edit_that_keeps_size_and_mtime_still_shows_stale(app: AppTest, sources: Path) -> None:
    app.run()
    answer = _ask(app)
    path = sources / answer.citations[0].source
    text, stat = path.read_text(encoding="utf-8"), path.stat()
    assert "Krause" in text
    path.write_text(text.replace("Krause", "Kraise"), encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    app.run()
    assert any("Stale" in b for b in _badges(app))


HOSTILE = "see www.example.org & ![a](https:127.0.0.1:39999) $x$ :red[y].txt"


def test_hostile_file_names_are_escaped_in_every_label(app: AppTest, sources: Path) -> None:
    (sources / HOSTILE).write_text(
        "The Quillon ferry runs twice a day in summer and once in winter.", encoding="utf-8"
    )
    app.run()
    assert not app.exception
    app.sidebar.selectbox[0].select(HOSTILE).run()
    remove = next(b for b in app.sidebar.button if b.label.startswith("Remove"))
    assert remove.label == f"Remove {md_text(HOSTILE)}"
    answer = _ask(app, "How often does the Quillon ferry run in summer?")
    assert answer.citations[0].source == HOSTILE
    label = next(e.label for e in app.expander if e.label.startswith("\\[1\\]"))
    assert md_text(HOSTILE) in label and "www." not in label and "](https" not in label
    # Two files of one name in one upload: both kept, neither lost.
    app.sidebar.file_uploader[0].set_value(
        [("dup.txt", b"First copy of the notes.", "text/plain"),
         ("dup.txt", b"Second copy of the notes.", "text/plain")]
    ).run()  # fmt: skip
    next(b for b in app.sidebar.button if b.label == "Upload and index").click().run()
    assert (sources / "dup.txt").read_bytes() == b"First copy of the notes."
    assert (sources / "dup-2.txt").read_bytes() == b"Second copy of the notes."


def test_upload_several_files_then_remove_one(app: AppTest, sources: Path) -> None:
    app.run()
    uploader = app.sidebar.file_uploader[0]
    assert uploader.accept_multiple_files
    uploader.set_value(
        [
            (
                "zephyr.txt",
                b"The Zephyr Lighthouse was restored in 1887 by the harbour guild.",
                "text/plain",
            ),
            (
                "notes.md",
                b"# Notes\n\nThe Quillon ferry runs twice a day in summer.",
                "text/markdown",
            ),
        ]
    ).run()
    next(b for b in app.sidebar.button if b.label == "Upload and index").click().run()
    assert not app.exception
    assert (sources / "zephyr.txt").is_file() and (sources / "notes.md").is_file()
    assert any("2 added" in s.value for s in app.sidebar.success)
    assert {"zephyr.txt: added", "notes.md: added"} <= {
        c.value.replace("\\", "") for c in app.sidebar.caption
    }
    assert {"zephyr.txt", "notes.md"} <= set(app.main.dataframe[0].value["source"])
    assert not app.sidebar.file_uploader[0].value  # the uploader is emptied for the next batch
    answer = _ask(app, "When was the Zephyr Lighthouse restored?")
    assert answer.citations and answer.citations[0].source == "zephyr.txt"

    app.sidebar.selectbox[0].select("notes.md").run()
    next(b for b in app.sidebar.button if b.label == "Remove notes.md").click().run()
    assert not app.exception
    assert not (sources / "notes.md").exists()
    assert "notes.md" not in set(app.main.dataframe[0].value["source"])
    assert any("1 removed" in s.value for s in app.sidebar.success)


def test_disagreement_is_shown_side_by_side(app: AppTest, sources: Path, monkeypatch) -> None:
    text_a = (sources / SEED_A).read_text(encoding="utf-8")
    text_b = (sources / SEED_B).read_text(encoding="utf-8")
    qa, qb = text_a[:40], text_b[:40]

    def fake_ask(
        self: QAService, question: str, history: History | None = None
    ) -> Iterator[str | Answer]:
        cits = [
            Citation(n=1, source=SEED_A, quote=qa, start=0, end=len(qa), score=1.0, verified=True),
            Citation(n=2, source=SEED_B, quote=qb, start=0, end=len(qb), score=1.0, verified=True),
        ]
        yield Answer(
            question=question,
            answer=f"{qa} [1] {qb} [2]",
            refused=False,
            citations=cits,
            disagreement=[Disagreement(topic="<b>who</b> decided", accounts=[1, 2])],
        )

    monkeypatch.setattr(QAService, "ask_stream", fake_ask)
    app.run()
    _ask(app, "Who decided?")
    assert any("Sources disagree" in m.value and "\\<b\\>who" in m.value for m in app.markdown)
    bodies = [[h.proto.body for h in col.get("html")] for col in app.columns]
    col_a = next(i for i, col in enumerate(bodies) if any(qa in b for b in col))
    col_b = next(i for i, col in enumerate(bodies) if any(qb in b for b in col))
    assert col_b == col_a + 1  # side by side, in citation order


def test_empty_sources_folder_tells_the_user_what_to_do(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("QA_SOURCES", str(tmp_path / "empty"))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store2"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception
    assert any("No documents yet" in i.value for i in at.info)
    at.chat_input[0].set_value("anything?").run()
    assert not at.exception
    last = at.session_state["messages"][-1]
    assert last.answer is None and "empty" in (last.error or "")
    assert any("empty" in w.value for w in at.warning)
