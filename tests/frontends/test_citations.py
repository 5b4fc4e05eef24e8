"""Markers that open their citation, labels by title, passages in their structure: all escaped."""

from __future__ import annotations

import html

from core.types import Answer, Block, Citation, SourceText
from frontends.citations import (
    PAGE_SCRIPT,
    answer_html,
    answer_text,
    citation_key,
    citation_label,
    copy_button_html,
    structured_passage_html,
)


def cit(n: int, quote: str = "q", source: str = "a.txt", **kw: object) -> Citation:
    return Citation(n=n, source=source, quote=quote, start=0, end=len(quote), score=1.0, **kw)  # type: ignore[arg-type]


def test_markers_link_to_their_citation_with_an_escaped_hover_card() -> None:
    quote = 'The <img src=x onerror="alert(1)"> council approved it.'
    answer = Answer(
        question="q",
        answer=f"A <b>bold</b> {quote} [1] Other. [2] Unknown [7]",
        refused=False,
        citations=[cit(1, quote, "minutes.txt"), cit(2, "Other.", "b.txt")],
    )
    out = answer_html(answer, "c0-m1", {"minutes.txt": "Council <minutes>"})
    assert "<b>bold" not in out and "&lt;b&gt;bold" in out  # only the card's own <b> is a tag
    assert "<img" not in out and "&lt;img" in out
    assert f'data-target="{citation_key("c0-m1", 1)}"' in out
    assert f'data-target="{citation_key("c0-m1", 2)}"' in out
    # the card holds the escaped title and quote; a marker without a citation stays text
    assert "<b>Council &lt;minutes&gt;</b><br>" + html.escape(quote) in out
    assert out.count('class="qa-cite"') == 2 and "Unknown [7]" in out
    # a source without a title is named by its file
    assert "<b>b.txt</b>" in out


def test_citation_key_is_safe_for_a_css_class() -> None:
    key = citation_key('c0-m1"><script>', 3)
    assert set(key) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    assert key.endswith("-cit-3")


def test_label_names_title_section_and_page_escaped() -> None:
    c = cit(2, source="R-data.pdf", page=9, section="2 Spreadsheet-like data › 2.2 *Fixed*")
    label = citation_label(c, {"R-data.pdf": "R Data Import/Export"})
    assert label == (
        "\\[2\\] R Data Import/Export › 2 Spreadsheet\\-like data › 2.2 \\*Fixed\\* · page 9"
    )
    assert citation_label(cit(1, source="a_b.txt"), {}) == "\\[1\\] a\\_b.txt"


def test_page_script_holds_no_less_than_sign_and_no_document_text() -> None:
    body = PAGE_SCRIPT.removeprefix("<script>").removesuffix("</script>")
    assert "<" not in body  # DOMPurify drops scripts with "<" before a word character
    assert "qa-cite" in body and "st-key-" in body


def test_copy_button_keeps_the_text_escaped_and_plain_text_lists_sources() -> None:
    answer = Answer(
        question="q", answer="It <b>was</b> so. [1]", refused=False, citations=[cit(1, "so")]
    )
    text = answer_text(answer, {"a.txt": "Alpha"})
    assert text == "It <b>was</b> so. [1]\n\n[1] Alpha (a.txt)\n"
    out = copy_button_html(text, 'x"><y')
    assert "&lt;b&gt;was&lt;/b&gt;" in out and "<b>" not in out
    assert 'id="x---y"' in out and 'data-copy="x---y"' in out


def test_structured_passage_shows_blocks_with_the_quote_marked_and_page_breaks() -> None:
    text = "Intro\n\nFirst <para>.\n\nx <- read()\n\nItem one\n\nSecond page text."
    blocks = [
        Block(0, 5, "heading", 1),
        Block(7, 20, "text"),
        Block(22, 33, "code"),
        Block(35, 43, "item"),
        Block(45, 62, "text"),
    ]
    src = SourceText("m.pdf", text, "pdf", pages=[(0, 43), (45, 62)], blocks=blocks)
    start = text.index("<para>")
    end = text.index("Second") + len("Second")
    out = structured_passage_html(src, start, end)
    assert '<div class="qa-h">Intro</div>' in out
    assert "<p>First <mark>&lt;para&gt;.</mark></p>" in out
    assert "<pre><mark>x &lt;- read()</mark></pre>" in out
    assert '<div class="qa-li"><mark>Item one</mark></div>' in out
    assert out.index('<div class="qa-page">Page 1</div>') < out.index("Intro")
    assert out.index('<div class="qa-page">Page 2</div>') < out.index("<mark>Second</mark>")
    assert "<para>" not in out


def test_structured_passage_shows_the_heading_above_a_distant_quote() -> None:
    body = "Filler sentence. " * 80
    text = "Setup\n\n" + body + "\n\nThe quote is here."
    start = text.index("The quote")
    blocks = [
        Block(0, 5, "heading", 2),
        Block(7, 7 + len(body.rstrip()), "text"),
        Block(start, len(text), "text"),
    ]
    src = SourceText("a.html", text, "html", blocks=blocks)
    out = structured_passage_html(src, start, len(text), context=100)
    assert out.startswith('<div class="qa-passage qa-passage-s"><div class="qa-h">Setup</div>')
    assert "<p><mark>The quote is here.</mark></p>" in out
    # without blocks: the plain context view
    plain = structured_passage_html(SourceText("a.txt", text, "text"), start, len(text))
    assert "qa-passage-s" not in plain and "<mark>The quote is here.</mark>" in plain


def test_a_long_block_is_cut_around_the_quote() -> None:
    log = "\n".join(f"line {i} of the service log" for i in range(3000))
    start = log.index("line 1500 ")
    end = start + len("line 1500 of the service log")
    src = SourceText("a.log.txt", log, "text", blocks=[Block(0, len(log), "text")])
    out = structured_passage_html(src, start, end, context=300)
    assert len(out) < 2000 and "<mark>line 1500 of the service log</mark>" in out
    assert "<p>…" in out and "…</p>" in out
