"""A citation's PDF page: rendered, the quote's glyphs covered by translucent yellow lines."""

from __future__ import annotations

import io
import re
import threading
from array import array
from collections.abc import Callable

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

import qa.page_view as page_view
from core.types import SourceText
from index.loaders import load_bytes
from index.pdf import PdfText, char_boxes, extract_pdf
from qa.page_view import PageRenderer, PageView, render_quote_page
from tests.conftest import SHARED_EVAL
from tests.index.test_pdf import manual_pdf

DOCS_DEV = SHARED_EVAL / "docs_dev" / "sources"
PAD = 2  # render() pads a highlight by max(1, round(scale)) pixels; scale is at most 1.5 here


@pytest.fixture(scope="module")
def manual() -> tuple[bytes, SourceText]:
    data = manual_pdf()
    return data, load_bytes("manual.pdf", data)


def _span(src: SourceText, quote: str) -> tuple[int, int]:
    start = src.text.index(quote)
    return start, start + len(quote)


def _plain(data: bytes, page: int, scale: float) -> np.ndarray:
    """The page rendered without highlights (as the module renders it: rotation as shown)."""
    pdf = pdfium.PdfDocument(data)
    try:
        return np.asarray(pdf[page - 1].render(scale=scale).to_pil().convert("RGB"), dtype=float)
    finally:
        pdf.close()


def _decoded(view: PageView) -> np.ndarray:
    image = Image.open(io.BytesIO(view.png))
    assert image.format == "PNG" and image.size == (view.width, view.height)
    return np.asarray(image.convert("RGB"), dtype=float)


def _inside(rect: tuple[float, float, float, float], view: PageView) -> bool:
    x0, y0, x1, y1 = rect
    return any(
        h[0] <= x0 + 0.01 and h[1] <= y0 + 0.01 and x1 <= h[2] + 0.01 and y1 <= h[3] + 0.01
        for h in view.highlights
    )


def _assert_covers(view: PageView, to_pixels: Callable[..., tuple[float, ...]]) -> None:
    """Every glyph box (converted by the test's own formula) lies in a highlight on the page."""
    assert view.glyph_boxes and view.highlights
    for x0, y0, x1, y1 in view.highlights:
        assert 0 <= x0 < x1 <= view.width and 0 <= y0 < y1 <= view.height
    for box in view.glyph_boxes:
        rect = to_pixels(box)
        assert _inside(rect, view), (box, rect, view.highlights)
    for x0, y0, x1, y1 in view.highlights:  # and a highlight is no bigger than its glyphs + pad
        glyphs = [to_pixels(b) for b in view.glyph_boxes]
        mine = [g for g in glyphs if x0 <= g[0] and g[2] <= x1 and y0 <= g[1] and g[3] <= y1]
        assert mine
        assert x0 >= min(g[0] for g in mine) - PAD - 1 and x1 <= max(g[2] for g in mine) + PAD + 1


def _upright(scale: float, left: float = 0.0, top: float = 792.0) -> Callable[..., tuple]:
    def convert(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        return ((x0 - left) * scale, (top - y1) * scale, (x1 - left) * scale, (top - y0) * scale)

    return convert


def _yellowing(view: PageView, data: bytes) -> float:
    """How much bluer the plain render is than the highlighted one inside the highlights."""
    shown, plain = _decoded(view), _plain(data, view.page, view.scale)
    assert shown.shape == plain.shape
    drops = []
    for x0, y0, x1, y1 in view.highlights:
        drops.append(plain[y0:y1, x0:x1, 2].mean() - shown[y0:y1, x0:x1, 2].mean())
        red_green = shown[y0:y1, x0:x1, :2].mean() - plain[y0:y1, x0:x1, :2].mean()
        assert abs(red_green) < 30  # yellow keeps red and green: only blue goes
    outside = np.ones(shown.shape[:2], bool)
    for x0, y0, x1, y1 in view.highlights:
        outside[y0:y1, x0:x1] = False
    assert np.array_equal(shown[outside], plain[outside])  # the rest of the page is untouched
    return min(drops)


def test_a_quote_on_two_lines_gets_two_highlights_covering_its_glyphs(manual) -> None:
    data, src = manual
    quote = "Function read.fwf provides a simple way to read them."  # wraps after "simple"
    start, end = _span(src, quote)
    view = render_quote_page(data, src, start, end, scale=1.5)
    assert view is not None
    assert (view.source, view.page, view.scale) == ("manual.pdf", 1, 1.5)
    assert (view.width, view.height) == (918, 1188)  # US letter at 1.5 px per point
    _decoded(view)
    assert len(view.glyph_boxes) == len(re.sub(r"\s", "", quote))  # one box per visible glyph
    assert len(view.highlights) == 2
    _assert_covers(view, _upright(1.5))
    assert _yellowing(view, data) > 40  # on white, alpha 90 takes blue from 255 to about 165


def test_a_quote_on_page_two_renders_page_two(manual) -> None:
    data, src = manual
    start, end = _span(src, "Some files mix formats.")
    view = render_quote_page(data, src, start, end, scale=1.0)
    assert view is not None and view.page == 2 == src.page_at(start)
    assert len(view.highlights) == 1
    _assert_covers(view, _upright(1.0))
    assert _yellowing(view, data) > 40


def test_a_quote_across_pages_shows_its_first_part_on_the_first_page(manual) -> None:
    data, src = manual
    first = "Fixed-width files are common output of older programs."
    start, _ = _span(src, first)
    _, end = _span(src, "2.3 Other formats")
    view = render_quote_page(data, src, start, end)
    assert view is not None and view.page == 1
    assert len(view.glyph_boxes) == len(re.sub(r"\s", "", first))
    _assert_covers(view, _upright(1.5))


def test_glyph_boxes_are_those_char_boxes_gives(manual) -> None:
    data, src = manual
    start, end = _span(src, "mation about where a field starts")
    view = render_quote_page(data, src, start, end)
    assert view is not None
    boxes = char_boxes(data, extract_pdf(data), start, end)
    assert [box for page, box in boxes if page == view.page - 1] == view.glyph_boxes
    assert {page for page, _ in boxes} == {0}


def test_text_not_from_this_pdf_or_without_glyphs_gives_none(manual) -> None:
    data, src = manual
    start, end = _span(src, "Some files mix formats.")
    edited = SourceText(src.source, src.text.replace("mix", "mux"), "pdf", pages=src.pages)
    assert render_quote_page(data, edited, start, end) is None
    other = load_bytes("memo.pdf", _pdf([("The depot closes at noon on Friday.", 72, 700)]))
    assert render_quote_page(data, other, 0, 10) is None
    blank = src.text.index("\n\n")
    assert render_quote_page(data, src, blank, blank + 2) is None  # a block break has no glyph
    assert render_quote_page(data, src, 5, 5) is None
    assert render_quote_page(data, src, -3, 5) is None
    assert render_quote_page(data, src, 5, len(src.text) + 1) is None


def test_a_second_citation_of_the_same_pdf_does_not_extract_it_again(manual, monkeypatch) -> None:
    data, src = manual
    calls = []
    real = page_view.extract_pdf_charmap

    def counted(pdf: bytes) -> tuple[PdfText, array[int]]:
        calls.append(1)
        return real(pdf)

    monkeypatch.setattr(page_view, "extract_pdf_charmap", counted)
    renderer = PageRenderer(keep=1)
    for quote in ("Some files mix formats.", "That is all.", "Use header = TRUE"):
        assert renderer.render(data, src, *_span(src, quote)) is not None
    assert len(calls) == 1
    other = _pdf([("The depot closes at noon on Friday.", 72, 700)])
    memo = load_bytes("memo.pdf", other)
    assert renderer.render(other, memo, 4, 9) is not None  # keep=1: the manual is dropped
    assert renderer.render(data, src, *_span(src, "That is all.")) is not None
    assert len(calls) == 3


def _pdf(
    lines: list[tuple[str, float, float]],
    *,
    rotation: int = 0,
    turned_text: bool = False,
    cropbox: tuple[float, float, float, float] | None = None,
) -> bytes:
    """One letter page of Times lines at (x, y); the page /Rotate'd, its text turned to suit."""
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(612, 792))
    c.setFont("Times-Roman", 12)
    for line, x, y in lines:
        c.saveState()
        c.translate(x, y)
        if turned_text:  # runs up the page: across it once the page turns 90° clockwise
            c.rotate(90)
        c.drawString(0, 0, line)
        c.restoreState()
    c.showPage()
    c.save()
    if not rotation and cropbox is None:
        return buf.getvalue()
    pdf = pdfium.PdfDocument(buf.getvalue())
    try:
        if rotation:
            pdf[0].set_rotation(rotation)
        if cropbox is not None:
            pdf[0].set_cropbox(*cropbox)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


def test_a_cropped_page_is_measured_from_its_crop_box() -> None:
    lines = [("Cropped pages shift the origin.", 150, 500), ("A second line here.", 150, 485)]
    data = _pdf(lines, cropbox=(100, 300, 500, 700))
    src = load_bytes("crop.pdf", data)
    view = render_quote_page(data, src, *_span(src, "shift the origin. A second"), scale=1.5)
    assert view is not None and (view.width, view.height) == (600, 600)
    assert len(view.highlights) == 2
    _assert_covers(view, _upright(1.5, left=100, top=700))
    assert _yellowing(view, data) > 40


def test_a_rotated_page_is_shown_as_read_with_the_highlight_on_the_text() -> None:
    # Text set up the page on a page turned 90° clockwise: a reader sees it left to right.
    lines = [("Landscape tables turn the page.", 300, 100), ("Their text runs up.", 315, 100)]
    data = _pdf(lines, rotation=90, turned_text=True)
    src = load_bytes("turned.pdf", data)
    quote = "turn the page. Their text"
    view = render_quote_page(data, src, *_span(src, quote), scale=1.0)
    assert view is not None and (view.width, view.height) == (792, 612)
    assert len(view.highlights) == 2  # one per line as read, not one per glyph

    def turned(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box  # 90° clockwise: page y becomes image x, page x image y
        return (y0, x0, y1, x1)

    _assert_covers(view, turned)
    plain = _plain(data, 1, 1.0)
    for x0, y0, x1, y1 in view.highlights:  # the rectangles sit on ink in the plain render
        assert plain[y0:y1, x0:x1].min() < 100
    assert _yellowing(view, data) > 30


def test_concurrent_renders_are_serialised(manual) -> None:
    data, src = manual
    renderer = PageRenderer()
    results: list[PageView | None] = []
    quotes = ["Some files mix formats.", "That is all.", "Use header = TRUE", "dat <- read.fwf"]

    def run(quote: str) -> None:
        results.append(renderer.render(data, src, *_span(src, quote), scale=0.5))

    threads = [threading.Thread(target=run, args=(q,)) for q in quotes * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is not None for r in results)


@pytest.mark.skipif(not DOCS_DEV.is_dir(), reason="needs ../shared/eval/docs_dev/sources")
def test_a_sentence_of_a_real_manual_is_highlighted() -> None:
    path = sorted(DOCS_DEV.glob("*.pdf"))[0]
    data = path.read_bytes()
    src = load_bytes(path.name, data)
    middle = len(src.pages) // 2
    lo, hi = src.pages[middle]
    paragraphs = [b for b in src.blocks if b.kind == "text" and lo <= b.start and b.end <= hi]
    sentence = next(
        m.group(0)
        for b in paragraphs
        for m in re.finditer(r"[A-Z][^.!?]{40,200}[.!?]", src.text[b.start : b.end])
    )
    start, end = _span(src, sentence)
    view = render_quote_page(data, src, start, end)
    assert view is not None and view.page == src.page_at(start) == middle + 1
    visible = len(re.sub(r"\s", "", sentence))
    assert len(view.glyph_boxes) >= 0.8 * visible, (sentence, len(view.glyph_boxes))
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[view.page - 1]
        left, _, _, top = page.get_bbox()
        assert page.get_rotation() == 0
    finally:
        pdf.close()
    _assert_covers(view, _upright(1.5, left=left, top=top))
    assert _yellowing(view, data) > 30
