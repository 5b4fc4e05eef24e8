"""Hostile and odd inputs found by the adversarial pass: each gets a clear, bounded refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import SourceError
from index.loaders import discover, load_bytes, size_over_limit
from tests.docx_fixtures import docx_with_body


def test_a_docx_whose_xml_expands_like_a_zip_bomb_is_refused() -> None:
    bomb = docx_with_body("<w:p/>" * 5_000_000)  # about 30 MB of XML in well under 100 kB
    assert len(bomb) < 200_000
    with pytest.raises(SourceError, match="ZIP bomb"):
        load_bytes("bomb.docx", bomb)


def test_docx_text_past_the_limit_is_refused_naming_the_setting() -> None:
    para = "<w:p><w:r><w:t>" + "All work and no play. " * 40 + "</w:t></w:r></w:p>"
    doc = docx_with_body(para * 200)
    assert load_bytes("long.docx", doc).text.count("All work") == 8000
    with pytest.raises(SourceError, match="QA_MAX_TEXT_MB"):
        load_bytes("long.docx", doc, max_chars=50_000)


def test_docx_headings_and_tables_stream_in_order() -> None:
    body = (
        '<w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Shipping</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>Lyon shipped </w:t></w:r><w:r><w:t>4,200 crates.</w:t></w:r></w:p>"
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Region</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>Crates</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
        "<w:p><w:r><w:t>After the table.</w:t></w:r></w:p>"
    )
    src = load_bytes("notes.docx", docx_with_body(body))
    assert [(src.text[b.start : b.end], b.kind) for b in src.blocks] == [
        ("Shipping", "heading"),
        ("Lyon shipped 4,200 crates.", "text"),
        ("Region | Crates", "row"),
        ("After the table.", "text"),
    ]


def test_docx_cells_keep_their_paragraphs_apart_and_nested_tables_once() -> None:
    def cell(*paras: str) -> str:
        return (
            "<w:tc>" + "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in paras) + "</w:tc>"
        )

    nested = "<w:tbl><w:tr>" + cell("inner1") + cell("inner2") + "</w:tr></w:tbl>"
    body = (
        "<w:tbl><w:tr>" + cell("Hello", "World")
        + "<w:tc><w:p><w:r><w:t>outer</w:t></w:r></w:p>" + nested + "</w:tc></w:tr></w:tbl>"
    )  # fmt: skip
    src = load_bytes("t.docx", docx_with_body(body))
    assert src.text == "Hello World | outer inner1 inner2"


def test_nul_bytes_anywhere_in_a_text_file_are_refused() -> None:
    data = b"Plain words. " * 1000 + b"\x00\x01binary tail"
    assert b"\x00" not in data[:8192]
    with pytest.raises(SourceError, match="NUL"):
        load_bytes("late.txt", data)


def test_html_cdata_is_not_content() -> None:
    page = b"<html><body><p>Visible text here.</p><![CDATA[hidden payload]]></body></html>"
    assert "hidden payload" not in load_bytes("p.html", page).text


def test_markdown_front_matter_does_not_become_the_title() -> None:
    src = load_bytes("n.md", b"---\ntitle: x\n---\n\n# Field notes\n\nBody text.\n")
    assert src.title == "Field notes"


def test_size_message_never_says_one_megabyte_is_over_one_megabyte() -> None:
    assert size_over_limit(1_000_001, 1_000_000) == (
        "file is 1,000,001 bytes, over the 1,000,000-byte limit (QA_MAX_FILE_MB)"
    )
    assert size_over_limit(2_500_000, 1_000_000).startswith("file is 2.5 MB, over the 1.0 MB")


def test_unreadable_folder_gets_an_error_line(tmp_path: Path, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("hidden", encoding="utf-8")
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        # chmod 0 does not stop root (CI), so the refusal the file system gives is simulated
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    _files, refused = discover(tmp_path)
    assert any(name == "locked" and "cannot be read" in why for name, why in refused)


def test_folder_symlinks_are_reported_not_silently_skipped(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    root.mkdir()
    (root / "a.txt").write_text("A sentence.", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_text("Elsewhere.", encoding="utf-8")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "self").symlink_to(root, target_is_directory=True)
    files, refused = discover(root)
    assert [f.name for f in files] == ["a.txt"]
    why = dict(refused)
    assert "leading outside" in why["out"] and "not followed" in why["out"]
    assert "inside the sources folder" in why["self"]
