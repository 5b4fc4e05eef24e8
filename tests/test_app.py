"""Streamlit AppTest of app.py with the real model and a store in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.integration


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    shutil.copytree(SEEDS, tmp_path / "sources")
    monkeypatch.setenv("QA_SOURCES", str(tmp_path / "sources"))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store"))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def test_app_indexes_on_first_start_and_answers_with_citations(app: AppTest) -> None:
    app.run()
    assert not app.exception
    table = app.sidebar.dataframe[0].value
    assert set(table["source"]) == {"000_9bb67ea3e936fa88.txt", "004_6dfc703d79982146.txt"}
    app.chat_input[0].set_value("Who resigned over the data-sharing agreement?").run()
    assert not app.exception
    messages = app.session_state["messages"]
    answer = messages[-1]["answer"]
    assert not answer["refused"] and "Melanie Krause" in answer["answer"]
    assert any("[1] 000_9bb67ea3e936fa88.txt" in e.label for e in app.expander)


def test_empty_sources_folder_tells_the_user_what_to_do(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("QA_SOURCES", str(tmp_path / "empty"))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store2"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception
    assert any("No documents yet" in i.value for i in at.sidebar.info)
    at.chat_input[0].set_value("anything?").run()
    assert not at.exception
    assert "empty" in at.session_state["messages"][-1]["answer"]["answer"]
