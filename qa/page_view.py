"""The PDF page of a citation, rendered with the quote's glyphs highlighted.

A citation's offsets refer to the text ``index.pdf`` extracted; its charmap ties each character
back to a pdfium glyph, whose box is drawn over the rendered page. The extraction is the slow
part (about a second for a 50-page manual), so a ``PageRenderer`` keeps the last few documents'
charmaps, keyed by a hash of the bytes: the next citation of the same PDF only renders a page.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw

from core.types import SourceText
from index.loaders import _PDFIUM
from index.pdf import Box, PdfText, char_boxes_from_map, extract_pdf_charmap, open_pdf

# pdfium is not thread-safe, and the loaders already serialise their calls with this lock (the
# app reads sources while it indexes): every pdfium call here takes the same one.
PDFIUM_LOCK = _PDFIUM

PixelRect = tuple[int, int, int, int]
HIGHLIGHT_RGBA = (255, 214, 0, 90)  # translucent yellow: the text stays readable through it


@dataclass(frozen=True)
class PageView:
    """One rendered page with the quote's part on it highlighted.

    ``highlights`` are half-open pixel rectangles (x0, y0, x1, y1), origin at the top left, one
    per line of the quote; ``glyph_boxes`` the quote's glyph boxes on this page in PDF points
    (left, bottom, right, top), unrotated page space, as ``index.pdf.char_boxes`` gives them.
    """

    source: str
    page: int  # 1-based
    png: bytes
    width: int
    height: int
    highlights: list[PixelRect]
    glyph_boxes: list[Box]
    scale: float


@dataclass(frozen=True)
class _Extracted:
    text: str
    pages: list[tuple[int, int]]
    cmap: array[int]


class PageRenderer:
    """Renders citation pages, keeping the charmaps of the ``keep`` PDFs used last."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._cache: OrderedDict[str, _Extracted] = OrderedDict()
        self._lock = threading.Lock()  # the cache only; pdfium calls take PDFIUM_LOCK

    def render(
        self,
        data: bytes,
        text: SourceText | PdfText,
        start: int,
        end: int,
        *,
        scale: float = 1.5,
        source: str | None = None,
    ) -> PageView | None:
        """The page holding ``text.text[start:end]`` (its first page), the quote highlighted.

        ``data`` is the PDF the text was extracted from; ``source`` names it in the result
        (by default ``text.source`` when ``text`` is a SourceText). None when ``text`` is not
        this PDF's text (the file changed, or another extractor version) or the range has no
        glyph (only spaces and line breaks, or out of the text).

        Raises:
            ValueError: the PDF is corrupt or protected (``index.pdf.PdfPasswordError``).

        """
        if not 0 <= start < end <= len(text.text):
            return None
        name = source if source is not None else getattr(text, "source", "")
        found = self._extracted(data)
        if found.text != text.text:
            return None
        with PDFIUM_LOCK:
            pdf = open_pdf(data)
            try:
                boxes = char_boxes_from_map(pdf, found.pages, found.cmap, start, end)
                if not boxes:
                    return None
                index = boxes[0][0]  # the first glyph's page: where the reader starts
                page = pdf[index]
                bbox = page.get_bbox()  # crop box clipped to the media box: what is drawn
                turn = page.get_rotation()
                # rotation=0 is on top of the page's own, so the image is the page as shown
                image = page.render(scale=scale, rotation=0).to_pil()
            finally:
                pdf.close()
        glyphs = [box for p, box in boxes if p == index]
        width, height = image.size
        pixels = [_to_pixels(box, bbox, turn, scale) for box in glyphs]
        lines = _line_rects(pixels)
        pad = max(1, round(scale))  # about a point of air: glyph boxes hug the ink
        highlights = [
            (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
            for x0, y0, x1, y1 in lines
        ]
        return PageView(
            source=name,
            page=index + 1,
            png=_highlighted_png(image, highlights),
            width=width,
            height=height,
            highlights=highlights,
            glyph_boxes=glyphs,
            scale=scale,
        )

    def _extracted(self, data: bytes) -> _Extracted:
        """The PDF's text, pages and charmap: from the cache, else extracted (and cached)."""
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        # Two threads missing the same PDF both extract it: rarer and simpler than a wait per key.
        with PDFIUM_LOCK:
            pdftext, cmap = extract_pdf_charmap(data)
        found = _Extracted(pdftext.text, list(pdftext.pages), cmap)
        with self._lock:
            self._cache[key] = found
            self._cache.move_to_end(key)
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return found


_DEFAULT = PageRenderer()


def render_quote_page(
    data: bytes,
    text: SourceText | PdfText,
    start: int,
    end: int,
    *,
    scale: float = 1.5,
) -> PageView | None:
    """``PageRenderer.render`` with a renderer shared by the process (and its cache)."""
    return _DEFAULT.render(data, text, start, end, scale=scale)


def _to_pixels(box: Box, bbox: Box, turn: int, scale: float) -> tuple[float, float, float, float]:
    """A box in PDF points (page space) as (x0, y0, x1, y1) pixels of the page as shown.

    ``bbox`` is the page's visible box (left, bottom, right, top) and ``turn`` its clockwise
    rotation in degrees: pdfium renders the page turned, the glyph boxes are not.
    """
    left, bottom, right, top = bbox
    x0, y0, x1, y1 = box
    if turn == 90:
        xs, ys = (y0 - bottom, y1 - bottom), (x0 - left, x1 - left)
    elif turn == 180:
        xs, ys = (right - x1, right - x0), (y0 - bottom, y1 - bottom)
    elif turn == 270:
        xs, ys = (top - y1, top - y0), (right - x1, right - x0)
    else:
        xs, ys = (x0 - left, x1 - left), (top - y1, top - y0)
    return (
        min(xs) * scale,
        min(ys) * scale,
        max(xs) * scale,
        max(ys) * scale,
    )


def _line_rects(pixels: list[tuple[float, float, float, float]]) -> list[PixelRect]:
    """Glyph rectangles, in text order, merged into one integer rectangle per line.

    A glyph continues the line when it overlaps the line vertically by half its height (or the
    line's) and does not go back left: a dot or a descender stays on its line, the next line
    of a wrapped paragraph starts a new rectangle.
    """
    lines: list[list[float]] = []
    last_x0 = 0.0
    for x0, y0, x1, y1 in pixels:
        if lines:
            cur = lines[-1]
            overlap = min(y1, cur[3]) - max(y0, cur[1])
            if overlap >= 0.5 * min(y1 - y0, cur[3] - cur[1]) and x0 >= last_x0 - 1:
                cur[:] = [min(cur[0], x0), min(cur[1], y0), max(cur[2], x1), max(cur[3], y1)]
                last_x0 = x0
                continue
        lines.append([x0, y0, x1, y1])
        last_x0 = x0
    return [
        (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)) for x0, y0, x1, y1 in lines
    ]


def _highlighted_png(image: Image.Image, highlights: list[PixelRect]) -> bytes:
    """The page as PNG with translucent yellow rectangles over ``highlights``."""
    image = image.convert("RGB")
    drawn = [(x0, y0, x1, y1) for x0, y0, x1, y1 in highlights if x1 > x0 and y1 > y0]
    if drawn:
        # Composited on the part of the page the highlights span only (a few lines, not the
        # page), on one overlay so that where two padded lines overlap it is tinted once.
        left, top = min(r[0] for r in drawn), min(r[1] for r in drawn)
        right, bottom = max(r[2] for r in drawn), max(r[3] for r in drawn)
        overlay = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for x0, y0, x1, y1 in drawn:  # PIL's rectangles include their last row and column
            draw.rectangle((x0 - left, y0 - top, x1 - left - 1, y1 - top - 1), fill=HIGHLIGHT_RGBA)
        region = image.crop((left, top, right, bottom)).convert("RGBA")
        image.paste(Image.alpha_composite(region, overlay).convert("RGB"), (left, top))
    buf = io.BytesIO()
    # Level 3: measured on manual pages, faster than the default 6 and the file no bigger.
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
