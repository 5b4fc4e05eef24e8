"""QAService behaviour that spans processes and uploads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError
from tests.conftest import ROOT

_WRITER = """
import sys
from pathlib import Path
from langchain_core.embeddings import DeterministicFakeEmbedding
from qa.service import QAService
from core.settings import Settings
svc = QAService(Settings(sources=Path(sys.argv[1]), store=Path(sys.argv[2])),
                embeddings=DeterministicFakeEmbedding(size=32))
svc.index()
"""


def test_answers_see_chunks_indexed_by_another_process(sources_dir, fake_embeddings, make_service):
    service = make_service(sources_dir, fake_embeddings, retriever="dense", top_k=50)
    service.index()
    service.ask("Who resigned?")
    (sources_dir / "zephyr.txt").write_text(
        "The Zephyr Lighthouse was restored in 1887 by the harbour guild of Port Avel.\n"
    )
    subprocess.run(
        [sys.executable, "-c", _WRITER, str(sources_dir), str(service.store_dir)],
        check=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    hits = service.engine.search("Zephyr Lighthouse", 50, "dense")
    # Before the next question this process still has its old view; ask() refreshes it.
    assert not any(h.chunk.source == "zephyr.txt" for h in hits)
    service.ask("When was the Zephyr Lighthouse restored?")
    hits = service.engine.search("Zephyr Lighthouse", 50, "dense")
    assert any(h.chunk.source == "zephyr.txt" for h in hits)


def test_upload_same_content_is_unchanged_and_new_content_replaces(
    sources_dir: Path, fake_embeddings, make_service
):
    service = make_service(sources_dir, fake_embeddings)
    assert service.save_upload("../notes.txt", b"first version") == ("notes.txt", "added")
    assert service.save_upload("notes.txt", b"first version") == ("notes.txt", "unchanged")
    assert service.save_upload("notes.txt", b"second", replace=True) == ("notes.txt", "replaced")
    assert service.save_upload("notes.txt", b"third", replace=False) == ("notes-2.txt", "added")
    assert (sources_dir / "notes.txt").read_bytes() == b"second"


def test_two_uploads_of_one_name_in_one_batch_are_both_kept(
    sources_dir: Path, fake_embeddings, make_service
):
    service = make_service(sources_dir, fake_embeddings)
    batch: set[str] = set()
    first = service.save_upload("report.txt", b"January figures.", batch=batch)
    second = service.save_upload("report.txt", b"February figures.", batch=batch)
    assert first == ("report.txt", "added") and second == ("report-2.txt", "added")
    assert (sources_dir / "report.txt").read_bytes() == b"January figures."
    assert (sources_dir / "report-2.txt").read_bytes() == b"February figures."


@pytest.mark.parametrize(
    ("data", "why"), [(b"", "empty"), (b"  \n", "empty"), (b"x" * 1_000_001, "1,000,001 bytes")]
)
def test_empty_and_oversized_uploads_are_refused_before_saving(
    sources_dir: Path, fake_embeddings, make_service, data: bytes, why: str
):
    service = make_service(sources_dir, fake_embeddings, max_file_mb=1.0)
    with pytest.raises(ConfigError, match=why):
        service.save_upload("new.txt", data)
    assert not (sources_dir / "new.txt").exists()


def test_content_free_questions_are_refused_with_a_reason(
    sources_dir: Path, real_embeddings, make_service
):
    service = make_service(sources_dir, real_embeddings)
    service.index()
    answer = service.ask("What is the answer?")
    assert answer.refused
    assert any("names nothing" in w for w in answer.warnings)


def test_a_long_cjk_upload_name_is_saved_and_indexed(
    sources_dir: Path, fake_embeddings, make_service
):
    service = make_service(sources_dir, fake_embeddings)
    client = "港湾委員会の議事録" * 14 + ".txt"  # 126 characters, 378 bytes before the suffix
    name, action = service.save_upload(client, "港湾委員会は予算を承認した。".encode())
    assert action == "added" and len(name.encode()) <= 255
    report = service.index()
    assert report.errors == [] and report.files.added == 3
    assert any(r.source == name and r.status == "ok" for r in service.list_sources())


def _scope_sources(tmp_path: Path) -> Path:
    folder = tmp_path / "scoped"
    folder.mkdir()
    (folder / "harbour.txt").write_text(
        "The Quillon harbour council approved the breakwater budget of four million crowns.\n"
        "Work on the breakwater starts in the autumn.\n"
    )
    (folder / "lighthouse.md").write_text(
        "# The Zephyr Lighthouse\n\n"
        "The Zephyr Lighthouse breakwater was rebuilt in 1887 by the harbour guild.\n"
        "Its lamp can be seen from thirty kilometres at sea.\n"
    )
    return folder


def test_a_scoped_question_retrieves_and_cites_only_the_chosen_sources(
    tmp_path, fake_embeddings, make_service
):
    service = make_service(_scope_sources(tmp_path), fake_embeddings, top_k=8)
    service.index()
    both = {h.chunk.source for h in service.engine.search("breakwater harbour", 8, "hybrid")}
    assert both == {"harbour.txt", "lighthouse.md"}
    for mode in ("dense", "bm25", "hybrid"):
        with service.engine.scope(["lighthouse.md"]):
            hits = service.engine.search("breakwater harbour", 8, mode)  # type: ignore[arg-type]
        assert hits and {h.chunk.source for h in hits} == {"lighthouse.md"}, mode
    answer = service.ask("What happened to the breakwater?", sources=["lighthouse.md"])
    cited = {c.source for c in answer.citations + answer.related}
    assert cited == {"lighthouse.md"}
    # By title too; the scope does not outlive the question.
    answer = service.ask("What happened to the breakwater?", sources=["the zephyr lighthouse"])
    assert {c.source for c in answer.citations + answer.related} == {"lighthouse.md"}
    assert {h.chunk.source for h in service.engine.search("breakwater", 8, "hybrid")} == {
        "harbour.txt",
        "lighthouse.md",
    }


def test_scoped_lexical_statistics_count_only_the_scope(tmp_path, fake_embeddings, make_service):
    service = make_service(_scope_sources(tmp_path), fake_embeddings)
    service.index()
    whole = service.engine.lexical()
    with service.engine.scope(["harbour.txt"]):
        scoped = service.engine.lexical()
    # "lamp" is in the other source only: absent from the scope, so it gets the top idf there.
    assert whole.document_frequency("lamp") == 1
    assert scoped.document_frequency("lamp") == 0
    assert len(scoped) < len(whole)


def test_an_unknown_source_in_the_scope_is_an_error_naming_the_known_ones(
    tmp_path, fake_embeddings, make_service
):
    service = make_service(_scope_sources(tmp_path), fake_embeddings)
    service.index()
    with pytest.raises(ConfigError, match=r"No indexed source is named 'nope.txt'.*harbour\.txt"):
        service.ask("What happened to the breakwater?", sources=["nope.txt"])


def test_suggestions_are_made_once_per_index_generation(
    tmp_path, fake_embeddings, make_service, monkeypatch
):
    import qa.service as service_module

    service = make_service(_scope_sources(tmp_path), fake_embeddings)
    service.index()
    made: list[int] = []
    real = service_module.suggest_questions

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        made.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_module, "suggest_questions", counting)
    first = service.suggestions()
    assert service.suggestions() == first and len(made) == 1  # a second session: no new work
    (service.sources_dir / "ferry.txt").write_text("The Quillon ferry runs twice a day.\n")
    service.index()
    service.suggestions()
    assert len(made) == 2  # a new generation makes them again
