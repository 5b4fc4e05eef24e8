"""End to end through the real `qa` command: packaged model, real Chroma in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _qa(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontends.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    import shutil

    from tests.conftest import SEEDS

    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(SEEDS, root / "sources")
    env = {
        **os.environ,
        "QA_SOURCES": str(root / "sources"),
        "QA_STORE": str(root / "store"),
        "HF_HUB_OFFLINE": "1",
    }
    result = _qa(["index", "--json"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"]["added"] == 2 and report["chunks"]["embedded"] > 0
    return root / "sources", env


def test_ask_json_cites_melanie_krause_at_exact_offsets(indexed) -> None:
    sources, env = indexed
    result = _qa(["ask", "--json", "Who resigned over the data-sharing agreement?"], env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"question", "answer", "refused", "citations"}
    assert answer["refused"] is False
    assert any("Melanie Krause" in c["quote"] for c in answer["citations"])
    for cit in answer["citations"]:
        assert set(cit) >= {"n", "source", "quote", "start", "end", "score"}
        text = Path(sources, cit["source"]).read_text(encoding="utf-8")
        assert text[cit["start"] : cit["end"]] == cit["quote"]
        assert f"[{cit['n']}]" in answer["answer"]


def test_ask_stdin_answers_one_json_line_per_question(indexed) -> None:
    _, env = indexed
    questions = "Who publicly supported the agreement?\n\nWho won the Nobel Prize in Physics?\n"
    result = _qa(["ask", "--json", "-"], env, stdin=questions)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert not lines[0]["refused"] and "Treasury" in lines[0]["answer"]
    assert lines[1]["refused"] and lines[1]["citations"] == []


def test_ask_stdin_takes_history_with_the_citations_earlier_answers_gave(indexed) -> None:
    _, env = indexed
    question = "Who resigned over the data-sharing agreement?"
    cited = json.loads(_qa(["ask", "--json", question], env).stdout)["citations"]
    lines = [
        {
            "question": "What was her position?",
            "history": [{"question": question, "citations": cited}],
        },
        {"question": "What was her position?", "history": "not a list"},
    ]
    result = _qa(["ask", "--json", "-"], env, stdin="\n".join(json.dumps(x) for x in lines))
    assert result.returncode == 0, result.stderr
    follow, bad = [json.loads(line) for line in result.stdout.splitlines()]
    assert "Melanie Krause" in follow["interpreted_as"]
    assert not follow["refused"] and "commissioner" in follow["answer"]
    assert "history" in bad["error"] and "answer" not in bad


def test_ask_source_limits_the_answer_to_the_named_sources(indexed) -> None:
    _, env = indexed
    question = "Who allowed the IRS to share tax information with ICE?"
    for name in ("000_9bb67ea3e936fa88.txt", "004_6dfc703d79982146.txt"):
        out = json.loads(_qa(["ask", "--json", "--source", name, question], env).stdout)
        assert {c["source"] for c in out["citations"] + out["related"]} == {name}
    lines = [
        {"question": question, "sources": ["004_6dfc703d79982146.txt"]},
        {"question": question, "sources": ["no_such_file.txt"]},
        {"question": question, "sources": "004_6dfc703d79982146.txt"},
    ]
    result = _qa(
        ["ask", "--json", "--source", "000_9bb67ea3e936fa88.txt", "-"],
        env,
        stdin="\n".join(json.dumps(x) for x in lines),
    )
    scoped, unknown, malformed = [json.loads(line) for line in result.stdout.splitlines()]
    # The line's own "sources" wins over the --source default.
    assert {c["source"] for c in scoped["citations"]} == {"004_6dfc703d79982146.txt"}
    assert "No indexed source is named 'no_such_file.txt'" in unknown["error"]
    assert '"sources" must be a list' in malformed["error"]
    result = _qa(["ask", "--source", "nope.txt", question], env)
    assert result.returncode == 1 and "nope.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_reindex_is_a_no_op_and_show_prints_the_cited_text(indexed) -> None:
    sources, env = indexed
    report = json.loads(_qa(["index", "--json"], env).stdout)
    assert report["files"]["unchanged"] == 2 and report["chunks"]["embedded"] == 0
    shown = _qa(["show", "000_9bb67ea3e936fa88.txt", "--start", "0", "--end", "60"], env)
    assert shown.stdout.rstrip("\n") == (sources / "000_9bb67ea3e936fa88.txt").read_text()[:60]


def test_errors_are_messages_and_exit_codes_not_tracebacks(tmp_path: Path) -> None:
    env = {**os.environ, "QA_SOURCES": str(tmp_path / "missing"), "QA_STORE": str(tmp_path / "s")}
    result = _qa(["index"], env)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    result = _qa(["ask", "anything"], env)
    assert result.returncode == 1 and "empty" in result.stderr and "Traceback" not in result.stderr
