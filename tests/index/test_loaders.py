"""Every supported file type, and every kind of bad file, through the loaders and the indexer."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from core.errors import SourceError
from core.types import SourceText
from index.loaders import decode_text, discover, load_bytes

LINES_PER_PAGE = 18


def _pdf_bytes(pages: int = 3, *, title: str = "Zebra report") -> bytes:
    """A real multi-page PDF; page N holds sentences naming 'page N' and a unique animal."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4)
    pdf.setTitle(title)
    for p in range(1, pages + 1):
        y = 800
        for i in range(LINES_PER_PAGE):
            pdf.drawString(
                60, y, f"On page {p} the line {i} describes the {_ANIMALS[p]} number {i}."
            )
            y -= 16
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


_ANIMALS = {1: "zebra", 2: "okapi", 3: "narwhal", 4: "quokka"}


def _encrypted_pdf(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf_bytes(2))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx_bytes() -> bytes:
    from docx import Document

    doc = Document()
    doc.core_properties.title = "Quarterly notes"
    doc.add_heading("Quarterly notes", level=1)
    doc.add_paragraph("The warehouse in Lyon shipped 4,200 crates in March.")
    doc.add_paragraph("Returns fell by a third after the new packaging was introduced.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Region"
    table.cell(0, 1).text = "Crates"
    table.cell(1, 0).text = "Lyon"
    table.cell(1, 1).text = "4200"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


HTML = """<!doctype html>
<html><head><title>Tide tables of Brest</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var tracking = "SCRIPTTEXT"; console.log("SCRIPTTEXT");</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/menu">NAVTEXT menu</a></nav>
<main>
<h1>Tides</h1>
<p>High tide in Brest reaches <b>7.2 metres</b> during spring tides.</p>
<p>The harbour&nbsp;master publishes the tables every Monday.</p>
<script>document.write("SCRIPTTEXT")</script>
</main>
<footer>Copyright FOOTERTEXT</footer>
</body></html>
"""


# Unit level: loaders ---------------------------------------------------------------------------
def test_pdf_pages_are_offset_ranges_of_the_extracted_text():
    src = load_bytes("report.pdf", _pdf_bytes(3))
    assert src.kind == "pdf" and src.title == "Zebra report"
    assert len(src.pages) == 3
    for number, (start, end) in enumerate(src.pages, 1):
        page_text = src.text[start:end]
        assert f"On page {number} the line 0 " in page_text
        assert f"the line {LINES_PER_PAGE - 1} describes the {_ANIMALS[number]}" in page_text
        others = {n for n in _ANIMALS if n != number}
        assert not any(_ANIMALS[n] in page_text for n in others)
        assert src.page_at(start) == number and src.page_at(end - 1) == number
    # Pages are joined by a blank line, which belongs to the page that follows.
    assert src.text[src.pages[0][1] : src.pages[1][0]] == "\n\n"
    assert src.page_at(src.pages[0][1]) == 2
    assert src.page_at(len(src.text) + 10) == 3


def test_pdf_chunks_carry_the_page_they_start_on():
    from index.chunking import chunk_source

    src = load_bytes("report.pdf", _pdf_bytes(4))
    chunks = chunk_source(src)
    assert {c.page for c in chunks} == {1, 2, 3, 4}
    for c in chunks:
        assert src.text[c.start : c.end] == c.text
        start, end = src.pages[c.page - 1]
        assert start <= c.start < end, "a chunk's page must hold its first character"
        assert f"On page {c.page} " in c.text[:30]


def test_encrypted_pdf_with_a_password_is_refused_clearly():
    with pytest.raises(SourceError, match="encrypted"):
        load_bytes("locked.pdf", _encrypted_pdf("secret"))


def test_encrypted_pdf_without_user_password_opens_like_in_a_viewer():
    src = load_bytes("open.pdf", _encrypted_pdf(""))
    assert len(src.pages) == 2 and "okapi" in src.text


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 this is not really a pdf",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n",
        b"not a pdf at all, just text with a pdf suffix",
    ],
    ids=["garbage", "no-xref", "text"],
)
def test_corrupt_pdf_is_a_source_error(data):
    with pytest.raises(SourceError, match=r"(?i)pdf"):
        load_bytes("broken.pdf", data)


def test_truncated_pdf_is_a_source_error():
    data = _pdf_bytes(3)
    with pytest.raises(SourceError):
        load_bytes("cut.pdf", data[: len(data) // 2])


def test_docx_paragraphs_tables_and_title():
    src = load_bytes("notes.docx", _docx_bytes())
    assert src.kind == "docx" and src.title == "Quarterly notes"
    assert "The warehouse in Lyon shipped 4,200 crates in March." in src.text
    assert "Lyon | 4200" in src.text


def test_corrupt_docx_is_a_source_error():
    with pytest.raises(SourceError, match="DOCX"):
        load_bytes("bad.docx", b"PK\x03\x04 not really a zip archive")
    with pytest.raises(SourceError, match="DOCX"):
        load_bytes("bad.docx", _docx_bytes()[:500])


def test_html_keeps_title_and_main_text_without_markup_scripts_styles_or_nav():
    src = load_bytes("tides.html", HTML.encode())
    assert src.kind == "html" and src.title == "Tide tables of Brest"
    assert "High tide in Brest reaches 7.2 metres during spring tides." in src.text
    assert "The harbour master publishes the tables every Monday." in src.text
    for junk in ("SCRIPTTEXT", "NAVTEXT", "color: red", "<p>", "<b>", "FOOTERTEXT", "&nbsp;"):
        assert junk not in src.text


def test_html_without_main_uses_the_body_and_drops_nav():
    html = (
        "<html><body><nav>NAVTEXT</nav><article>First story.</article>"
        "<article>Second story.</article></body></html>"
    )
    src = load_bytes("list.htm", html.encode())
    assert "First story." in src.text and "Second story." in src.text
    assert "NAVTEXT" not in src.text
    assert src.title == "First story."  # no <title>: the first line stands in


def test_cp1252_text_is_decoded():
    text = "He paid \u20ac5 for the \u201cspecial\u201d caf\u00e9 cr\u00e8me \u2014 tr\u00e8s cher."
    src = load_bytes("old.txt", text.encode("cp1252"))
    assert src.text == text and src.encoding == "cp1252"


def test_latin1_and_other_legacy_encodings_are_decoded():
    text = "Le caf\u00e9 \u00e9tait tr\u00e8s r\u00e9put\u00e9 \u00e0 Gen\u00e8ve."
    assert decode_text("a.txt", text.encode("latin-1"))[0] == text
    russian = "Привет, как дела? Это проверка старой кодировки для русского текста."
    assert decode_text("r.txt", russian.encode("cp1251"))[0] == russian


def test_utf8_offsets_match_read_text_and_utf16_is_decoded(tmp_path):
    raw = "Line one.\r\nLine two with caf\u00e9.\rLine three.\n"
    path = tmp_path / "a.txt"
    path.write_bytes(raw.encode("utf-8"))
    assert load_bytes("a.txt", path.read_bytes()).text == path.read_text(encoding="utf-8")
    assert load_bytes("b.txt", raw.encode("utf-16")).text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  "], ids=["empty", "blank"])
def test_empty_file_is_refused(data):
    with pytest.raises(SourceError, match="empty"):
        load_bytes("empty.txt", data)


def test_binary_behind_txt_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    with pytest.raises(SourceError, match="binary"):
        load_bytes("photo.txt", png)
    noisy = bytes((i * 37 + 11) % 31 + 1 for i in range(4000))  # control bytes, no NUL
    with pytest.raises(SourceError):
        load_bytes("noise.txt", noisy)


def test_unsupported_type_is_refused():
    with pytest.raises(SourceError, match="unsupported"):
        load_bytes("sheet.xlsx", b"PK\x03\x04data")


def test_discover_refuses_outside_symlinks_and_unsupported_types(tmp_path):
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("Outside secret.")
    (root / "sub" / "inner.txt").write_text("Inner text.")
    (root / "out.txt").symlink_to(outside)
    (root / "in.txt").symlink_to(root / "sub" / "inner.txt")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    (root / "table.xlsx").write_bytes(b"PK")
    (root / ".hidden.txt").write_text("hidden")
    files, refused = discover(root)
    assert sorted(p.relative_to(root).as_posix() for p in files) == ["in.txt", "sub/inner.txt"]
    reasons = dict(refused)
    assert set(reasons) == {"out.txt", "loop.txt", "table.xlsx"}
    assert "outside" in reasons["out.txt"] and "unsupported" in reasons["table.xlsx"]


# Through the indexer and `qa show` -------------------------------------------------------------
def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "docs"
    src.mkdir()
    return src


def test_every_format_indexes_with_offsets_into_the_shown_text(
    tmp_path, fake_embeddings, make_service
):
    src = _folder(tmp_path)
    (src / "report.pdf").write_bytes(_pdf_bytes(3))
    (src / "notes.docx").write_bytes(_docx_bytes())
    (src / "tides.html").write_text(HTML)
    (src / "readme.md").write_text("# Readme\n\nThe project indexes folders of documents.\n")
    (src / "old.txt").write_bytes(
        "Caf\u00e9 \u201cAu Bon Pain\u201d opened in 1921.".encode("cp1252")
    )
    service = make_service(src, fake_embeddings)
    report = service.index()
    assert report.errors == [] and report.files.added == 5
    chunks = list(service.store.iter_chunks())
    assert {c.source for c in chunks} == {
        "report.pdf",
        "notes.docx",
        "tides.html",
        "readme.md",
        "old.txt",
    }
    for c in chunks:
        shown: SourceText = service.show(c.source)
        assert shown.text[c.start : c.end] == c.text
        if c.source == "report.pdf":
            assert c.page == shown.page_at(c.start) and c.page is not None
        else:
            assert c.page is None
    assert {c.page for c in chunks if c.source == "report.pdf"} == {1, 2, 3}
    shown = service.show("report.pdf")
    answer = service.ask("Which line describes the narwhal number 5?")
    pdf_cits = [cit for cit in answer.citations if cit.source == "report.pdf"]
    for cit in pdf_cits:  # a citation's page is the page its quote starts on
        assert cit.page == shown.page_at(cit.start)
        assert f"On page {cit.page} " in shown.text[shown.pages[cit.page - 1][0] :][:10]


def test_bad_files_each_get_one_error_and_the_rest_completes(
    tmp_path, fake_embeddings, make_service
):
    src = _folder(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("This file lives outside the sources folder and must not be indexed.")
    (src / "good.txt").write_text("A good file about lighthouses and their keepers.")
    (src / "inner").mkdir()
    (src / "inner" / "target.md").write_text("Inner file reached through a link inside the folder.")
    (src / "link-in.md").symlink_to(src / "inner" / "target.md")
    (src / "link-out.txt").symlink_to(outside)
    (src / "empty.txt").write_text("")
    (src / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (src / "locked.pdf").write_bytes(_encrypted_pdf("secret"))
    (src / "big.txt").write_text("Big file sentence. " * 2000)  # 38 kB, over 20 kB
    (src / "table.xlsx").write_bytes(b"PK\x03\x04")
    (src / "broken.docx").write_bytes(b"not a zip")
    os.mkfifo(src / "pipe.txt")  # reading it would hang forever
    service = make_service(src, fake_embeddings, max_file_mb=0.02)
    report = service.index()
    errors = {e.source: e.error for e in report.errors}
    assert len(errors) == len(report.errors), "one line per bad file"
    assert set(errors) == {
        "link-out.txt", "empty.txt", "binary.txt", "broken.pdf", "locked.pdf", "big.txt",
        "table.xlsx", "broken.docx", "pipe.txt",
    }  # fmt: skip
    assert "outside" in errors["link-out.txt"]
    assert "empty" in errors["empty.txt"]
    assert "binary" in errors["binary.txt"]
    assert "PDF" in errors["broken.pdf"]
    assert "encrypted" in errors["locked.pdf"]
    assert errors["big.txt"] == "file is 38.0 kB, over the 20.0 kB limit (QA_MAX_FILE_MB)"
    assert "unsupported" in errors["table.xlsx"]
    assert "DOCX" in errors["broken.docx"]
    assert "regular file" in errors["pipe.txt"]
    for message in errors.values():
        assert "\n" not in message
    assert report.files.added == 3 and report.files.failed == 9 and report.exit_code == 2
    indexed = {c.source for c in service.store.iter_chunks()}
    assert indexed == {"good.txt", "inner/target.md", "link-in.md"}
    assert all(
        "outside the sources folder and must not" not in c.text for c in service.store.iter_chunks()
    )
    with pytest.raises(SourceError, match="outside"):
        service.show("link-out.txt")
    assert "lighthouses" in service.show("good.txt").text
    # Records say what failed.
    rows = {r.source: r for r in service.list_sources()}
    assert rows["locked.pdf"].status == "failed" and "encrypted" in (rows["locked.pdf"].error or "")


def test_a_good_file_turning_corrupt_keeps_its_chunks_and_recovers(
    tmp_path, fake_embeddings, make_service
):
    src = _folder(tmp_path)
    (src / "report.pdf").write_bytes(_pdf_bytes(2))
    (src / "notes.docx").write_bytes(_docx_bytes())
    service = make_service(src, fake_embeddings)
    first = service.index()
    before = {c.id for c in service.store.iter_chunks()}
    (src / "report.pdf").write_bytes(b"%PDF-1.4 now broken")
    (src / "notes.docx").write_bytes(b"")
    second = service.index()
    assert {e.source for e in second.errors} == {"report.pdf", "notes.docx"}
    assert {c.id for c in service.store.iter_chunks()} == before  # nothing indexed was lost
    (src / "report.pdf").write_bytes(_pdf_bytes(2))
    (src / "notes.docx").write_bytes(_docx_bytes())
    third = service.index()
    assert third.errors == [] and third.chunks.embedded == 0
    assert third.store == first.store
    assert {c.id for c in service.store.iter_chunks()} == before


def test_plain_text_titles_skip_datelines_and_cut_long_openings() -> None:
    from index.loaders import text_title

    assert (
        text_title(["Published Date: 13.05.2025 06:40 / Politics", "Judge Approves the Plan", "x."])
        == "Judge Approves the Plan"
    )
    assert text_title(["By Jane Roe", "Harbour Council Minutes"]) == "Harbour Council Minutes"
    opening = "In a significant victory for the harbour council, a judge allowed the plan " * 3
    title = text_title([opening.strip(), "It was a long day."])
    assert title.endswith("…") and len(title) <= 101 and opening.startswith(title[:-1])
    assert text_title(["A short first paragraph."]) == "A short first paragraph."
    assert text_title([]) == ""
    src = load_bytes("a.txt", b"Posted 2024-01-02\n\nQuillon Ferry Timetable\n\nThe ferry runs.\n")
    assert src.title == "Quillon Ferry Timetable"
