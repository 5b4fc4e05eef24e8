"""PDF manuals read as a reader sees them: lines joined, hyphens undone, furniture dropped."""

from __future__ import annotations

import io

import pytest

from core.errors import SourceError
from core.types import SourceText
from index.chunking import chunk_source
from index.loaders import load_bytes
from index.structure import units_of

LEFT, TOP, LEAD = 72, 700, 14

# Lines placed by hand, as TeX would set them: (kind, indent, text).
PAGES = [
    [
        ("h", 0, "2.2 Fixed-width-format files"),
        ("p", 0, "A fixed-width file stores each field in the same columns of every line, so the infor-"),  # noqa: E501
        ("p", 0, "mation about where a field starts is not in the file itself. Reading such a fixed-"),  # noqa: E501
        ("p", 0, "width file needs the widths of the fields. Function read.fwf provides a simple"),
        ("p", 0, "way to read them. Read the file with:"),
        ("c", 20, 'dat <- read.fwf("data.txt", widths = c(1, 2, 3))'),
        ("gap", 0, ""),
        ("b", 10, "\u2022 The widths argument gives the width of each field; a negative width skips"),  # noqa: E501
        ("p", 22, "columns that are not wanted."),
        ("b", 10, "\u2022 Use header = TRUE only with a separator."),
        ("gap", 0, ""),
        ("p", 0, "Fixed-width files are common output of older programs."),
    ],
    [
        ("h", 0, "2.3 Other formats"),
        ("p", 18, "Some files mix formats. In that case the simplest thing to do is to convert them"),  # noqa: E501
        ("p", 0, "first with a text editor or a small script."),
        ("gap", 0, ""),
        ("p", 0, "That is all."),
    ],
]  # fmt: skip


def manual_pdf(password: str | None = None) -> bytes:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=letter, encrypt=password)
    c.setTitle("R Data Manual")
    for n, page in enumerate(PAGES, 1):
        c.setFont("Helvetica", 9)
        c.drawString(LEFT, 750, "R Data Manual")  # the running header
        c.drawCentredString(306, 40, str(n))  # the page number
        y = TOP
        for kind, indent, line in page:
            if kind == "h":
                c.setFont("Helvetica-Bold", 14)
                c.drawString(LEFT, y, line)
                y -= 24
            elif kind == "gap":
                y -= 6
            else:
                c.setFont("Courier" if kind == "c" else "Times-Roman", 11)
                c.drawString(LEFT + indent, y, line)
                y -= LEAD + (6 if kind == "c" else 0)
        c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture(scope="module")
def manual() -> SourceText:
    return load_bytes("manual.pdf", manual_pdf())


def _units(src: SourceText) -> list[str]:
    return [src.text[u.start : u.end] for u in units_of(src.text, src.blocks)]


def test_wrapped_lines_are_joined_and_hyphenation_undone(manual: SourceText) -> None:
    units = _units(manual)
    assert (
        "A fixed-width file stores each field in the same columns of every line, so the "
        "information about where a field starts is not in the file itself." in units
    )
    # A compound broken at its own hyphen keeps it.
    assert "Reading such a fixed-width file needs the widths of the fields." in units
    assert "Function read.fwf provides a simple way to read them." in units


def test_headings_code_and_list_items_are_their_own_blocks(manual: SourceText) -> None:
    blocks = {manual.text[b.start : b.end]: b for b in manual.blocks}
    assert blocks["2.2 Fixed-width-format files"].kind == "heading"
    assert blocks['dat <- read.fwf("data.txt", widths = c(1, 2, 3))'].kind == "code"
    assert (
        "\u2022 The widths argument gives the width of each field; a negative width skips "
        "columns that are not wanted." in blocks
    )


def test_running_header_and_page_numbers_are_dropped(manual: SourceText) -> None:
    assert "R Data Manual" not in manual.text
    assert manual.title == "R Data Manual"  # from the document's metadata
    lines = {line.strip() for line in manual.text.splitlines()}
    assert "1" not in lines and "2" not in lines


def test_pages_and_offsets_are_exact(manual: SourceText) -> None:
    assert len(manual.pages) == 2
    second = manual.text.index("2.3 Other formats")
    assert manual.page_at(second) == 2 and manual.page_at(0) == 1
    for chunk in chunk_source(manual):
        assert manual.text[chunk.start : chunk.end] == chunk.text
        assert chunk.page == manual.page_at(chunk.start)
    sections = {c.section for c in chunk_source(manual)}
    assert "2.2 Fixed-width-format files" in sections or "2.3 Other formats" in sections


def test_encrypted_and_corrupt_pdfs_get_a_clear_error() -> None:
    with pytest.raises(SourceError, match="encrypted"):
        load_bytes("secret.pdf", manual_pdf(password="hunter2"))
    with pytest.raises(SourceError, match="corrupt or unreadable PDF"):
        load_bytes("broken.pdf", b"%PDF-1.4\n" + b"garbage " * 100)
    with pytest.raises(SourceError, match="corrupt or unreadable PDF"):
        load_bytes("cut.pdf", manual_pdf()[:600])


def test_a_pdf_set_entirely_in_a_monospace_font_still_reads() -> None:
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf)
    c.setFont("Courier", 11)
    for i, line in enumerate(["MEMO", "The depot closes at noon on Friday.", "Staff leave early."]):
        c.drawString(72, 700 - 14 * i, line)
    c.showPage()
    c.save()
    src = load_bytes("memo.pdf", buf.getvalue())
    assert "The depot closes at noon on Friday." in src.text
