"""Streamlit AppTest of app.py with the real model and a store in tmp_path."""

from __future__ import annotations

import html
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.types import Answer, Citation, Disagreement, History, Turn, as_turns
from frontends.citations import citation_key
from frontends.render import conversation_markdown, md_text
from index.loaders import load_bytes
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


def _settle(app: AppTest, timeout: float = 180.0) -> AppTest:
    """Run the page until the background index run it shows has ended, then once more."""
    app.run()
    deadline = time.monotonic() + timeout
    while app.session_state["indexing"] and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()
    assert not app.session_state["indexing"], "indexing did not finish"
    return app.run()


def _open_citation(app: AppTest, n: int = 1, message: int = -1) -> None:
    """Open citation ``n`` of the answer at ``message`` (as a click on its marker does)."""
    conv = app.session_state["conversation"] if "conversation" in app.session_state else 0  # noqa: SIM401 - AppTest's session state has no get()
    index = len(app.session_state["messages"]) + message if message < 0 else message
    app.session_state[citation_key(f"c{conv}-m{index}", n)] = True
    app.run()


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
    # The first index runs in the background: the page is drawn while it runs.
    indexed = any("Indexed in" in s.value for s in app.sidebar.success)
    assert app.session_state["indexing"] or indexed
    _settle(app)
    table = app.main.dataframe[0].value
    assert set(table["file"]) == {SEED_A, SEED_B}
    assert list(table)[:3] == ["title", "status", "problem"]  # what a reader scans first
    assert {"type", "size", "passages", "indexed at"} <= set(table)
    assert set(table["status"]) == {"ready"} and all(table["indexed at"])
    assert any("Indexed in" in s.value for s in app.sidebar.success)
    answer = _ask(app)
    assert not answer.refused and "Melanie Krause" in answer.answer
    assert answer.confidence is not None
    assert f"Confidence {answer.confidence:.0%} that" in " ".join(c.value for c in app.caption)
    # Labels name the source by its title; the file name shows once the citation is open.
    source = answer.citations[0].source
    title = load_bytes(source, (SEEDS / source).read_bytes()).title
    label = next(e.label for e in app.expander if e.label.startswith("\\[1\\]"))
    assert md_text(title) in label
    assert not _badges(app)  # closed citations draw nothing
    # the answer's markers are links to their citation, with a hover card holding the quote
    quote = answer.citations[0].quote
    body = next(h.proto.body for h in app.get("html") if 'class="qa-cite"' in h.proto.body)
    assert 'data-target="c0-m1-cit-1"' in body and html.escape(quote) in body
    _open_citation(app, 1)
    assert any("Verified" in b for b in _badges(app))
    assert any(
        f"<mark>{html.escape(quote)}</mark>" in h.proto.body
        for h in app.get("html")
        if "<mark>" in h.proto.body
    )
    assert any(answer.citations[0].source.replace("_", "\\_") in c.value for c in app.caption)


def test_settings_are_visible_in_plain_words(app: AppTest) -> None:
    _settle(app)
    captions = " ".join(c.value for c in app.sidebar.caption)
    assert "Answers:** quotes picked from the sources" in captions
    assert "Search by:** meaning and keywords" in captions
    assert "Passages read per question:** 8" in captions
    assert "QA\\_" not in captions and "QA_" not in captions


def test_follow_up_new_conversation_and_export(app: AppTest, monkeypatch) -> None:
    _settle(app)
    seen: list[list[Turn]] = []
    real_ask = QAService.ask_stream

    def spy(
        self: QAService, question: str, history: History | None = None, sources: object = None
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

    new = next(b for b in app.sidebar.button if b.label == "New conversation")
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
    _settle(app)
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


def test_changed_badge_when_the_file_changes_after_the_answer(app: AppTest, sources: Path) -> None:
    _settle(app)
    answer = _ask(app)
    cit = answer.citations[0]
    path = sources / cit.source
    path.write_text("Rewritten. " + path.read_text(encoding="utf-8"), encoding="utf-8")
    _open_citation(app, 1)
    assert any("Changed" in b for b in _badges(app))


def test_an_edit_that_keeps_size_and_mtime_still_shows_changed(app: AppTest, sources: Path) -> None:
    _settle(app)
    answer = _ask(app)
    path = sources / answer.citations[0].source
    text, stat = path.read_text(encoding="utf-8"), path.stat()
    assert "Krause" in text
    path.write_text(text.replace("Krause", "Kraise"), encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _open_citation(app, 1)
    assert any("Changed" in b for b in _badges(app))


HOSTILE = "see www.example.org & ![a](https:127.0.0.1:39999) $x$ :red[y].txt"


def test_hostile_file_names_are_escaped_in_every_label(app: AppTest, sources: Path) -> None:
    (sources / HOSTILE).write_text(
        "Ferry ![x](https:127.0.0.1:39999) www.example.org\n\n"
        "The Quillon ferry runs twice a day in summer and once in winter.",
        encoding="utf-8",
    )
    _settle(app)
    assert not app.exception
    app.sidebar.selectbox(key="victim").select(HOSTILE).run()
    remove = next(b for b in app.sidebar.button if b.label.startswith("Remove"))
    assert remove.label == f"Remove {md_text(HOSTILE)}…"
    answer = _ask(app, "How often does the Quillon ferry run in summer?")
    assert answer.citations[0].source == HOSTILE
    # The label names the title (here hostile too); the open citation names the file.
    label = next(e.label for e in app.expander if e.label.startswith("\\[1\\]"))
    assert "www\u200b." in label and "www." not in label and "](https" not in label
    _open_citation(app, 1)
    assert any(md_text(HOSTILE) in c.value for c in app.main.caption)
    assert not any("www.example" in c.value for c in app.main.caption)
    # Two files of one name in one upload: both kept, neither lost.
    app.sidebar.file_uploader[0].set_value(
        [("dup.txt", b"First copy of the notes.", "text/plain"),
         ("dup.txt", b"Second copy of the notes.", "text/plain")]
    ).run()  # fmt: skip
    next(b for b in app.sidebar.button if b.label == "Upload and index").click().run()
    _settle(app)
    assert (sources / "dup.txt").read_bytes() == b"First copy of the notes."
    assert (sources / "dup-2.txt").read_bytes() == b"Second copy of the notes."


def test_upload_several_files_then_remove_one_after_confirming(app: AppTest, sources: Path) -> None:
    _settle(app)
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
    _settle(app)
    assert (sources / "zephyr.txt").is_file() and (sources / "notes.md").is_file()
    assert any("2 added" in s.value for s in app.sidebar.success)
    assert {"zephyr.txt: added", "notes.md: added"} <= {
        c.value.replace("\\", "") for c in app.sidebar.caption
    }
    assert {"zephyr.txt", "notes.md"} <= set(app.main.dataframe[0].value["file"])
    assert not app.sidebar.file_uploader[0].value  # the uploader is emptied for the next batch
    answer = _ask(app, "When was the Zephyr Lighthouse restored?")
    assert answer.citations and answer.citations[0].source == "zephyr.txt"

    # Removing asks first: keeping it leaves the file; confirming deletes and re-indexes.
    app.sidebar.selectbox(key="victim").select("notes.md").run()
    next(b for b in app.sidebar.button if b.label == "Remove notes.md…").click().run()
    assert (sources / "notes.md").exists()
    app.button(key="cancel-remove").click().run()
    assert (sources / "notes.md").exists()
    next(b for b in app.sidebar.button if b.label == "Remove notes.md…").click().run()
    app.button(key="confirm-remove").click().run()
    assert not app.exception
    assert not (sources / "notes.md").exists()
    _settle(app)
    assert "notes.md" not in set(app.main.dataframe[0].value["file"])
    assert any("1 removed" in s.value for s in app.sidebar.success)


def test_disagreement_is_shown_side_by_side(app: AppTest, sources: Path, monkeypatch) -> None:
    text_a = (sources / SEED_A).read_text(encoding="utf-8")
    text_b = (sources / SEED_B).read_text(encoding="utf-8")
    qa, qb = text_a[:40], text_b[:40]

    def fake_ask(
        self: QAService, question: str, history: History | None = None, sources: object = None
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
    _settle(app)
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


def test_a_scoped_question_cites_only_the_chosen_document(app: AppTest) -> None:
    _settle(app)
    question = "Who allowed the IRS to share tax information with ICE?"
    for chosen in (SEED_A, SEED_B):
        app.sidebar.multiselect(key="scope").set_value([chosen]).run()
        answer = _ask(app, question)
        assert {c.source for c in answer.citations + answer.related} == {chosen}
    app.sidebar.multiselect(key="scope").set_value([]).run()
    answer = _ask(app, question)
    assert len({c.source for c in answer.citations + answer.related}) >= 1


def test_a_conversation_survives_a_reload_and_can_be_renamed_and_deleted(
    app: AppTest, sources: Path, tmp_path: Path
) -> None:
    _settle(app)
    first = _ask(app)
    _ask(app, "What was her position?")
    conv_id = app.query_params["c"]
    assert conv_id
    # A reload is a new session with the same address.
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    again.query_params["c"] = conv_id
    again.run()
    assert not again.exception
    messages = again.session_state["messages"]
    assert [m.content for m in messages if m.role == "user"] == [QUESTION, "What was her position?"]
    assert messages[1].answer == first
    saved = [b for b in again.sidebar.button if b.key == f"open-{conv_id}"]
    assert saved and saved[0].label == md_text(QUESTION) and saved[0].disabled  # the open one
    again.sidebar.text_input(key=f"title-{conv_id}").set_value("Krause's resignation").run()
    again.sidebar.button(key=f"rename-{conv_id}").click().run()
    assert again.sidebar.button(key=f"open-{conv_id}").label == md_text("Krause's resignation")
    again.sidebar.button(key=f"delete-{conv_id}").click().run()
    again.button(key="confirm-delete").click().run()
    assert not again.exception
    assert again.session_state["messages"] == []
    assert not [b for b in again.sidebar.button if b.key == f"open-{conv_id}"]
    assert "c" not in again.query_params


def test_suggested_questions_are_escaped_and_clicking_one_asks_it(
    app: AppTest, sources: Path
) -> None:
    (sources / "breakwater.md").write_text(
        "# Quillon *harbour* ![x](http://127.0.0.1:39999/t.png) breakwater\n\n"
        "The Quillon breakwater was finished in 1902 by the harbour guild.\n\n"
        "It shelters the fishing fleet from the winter storms of the northern sea.\n",
        encoding="utf-8",
    )
    _settle(app)
    buttons = [b for b in app.main.button if str(b.key).startswith("suggest-")]
    assert buttons
    for button in buttons:
        assert "![x](" not in button.label and "*harbour*" not in button.label
    hostile = [b for b in buttons if "Quillon" in b.label]
    assert hostile and "\\!\\[x\\]\\(http" in hostile[0].label
    hostile[0].click().run()
    assert not app.exception
    messages = app.session_state["messages"]
    assert messages[0].role == "user" and "![x](" in messages[0].content  # asked as made
    assert messages[1].answer is not None and not messages[1].answer.refused


def test_a_folder_whose_files_all_fail_says_why_and_is_not_indexed_again(
    tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "blank.txt").write_text("   \n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    monkeypatch.setenv("QA_SOURCES", str(folder))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store3"))
    at = _settle(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180))
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "blank.txt" in warnings and "broken.pdf" in warnings
    for _ in range(3):  # the store stays empty, yet no new run starts
        time.sleep(0.5)
        at.run()
        assert not at.session_state["indexing"]
    assert any("2 failed" in s.value for s in at.sidebar.success)
