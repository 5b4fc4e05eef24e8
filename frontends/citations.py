"""Citations on the page: markers that open their passage, labels, and passages in their structure.

Pure functions of typed objects returning escaped HTML (no Streamlit import), like
``frontends.render``: document text reaches the browser only through ``html.escape``; the only
script is a constant one (no document text) that makes markers open their citation.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from core.types import Answer, Block, Citation, SourceText
from frontends.render import md_text, passage_html

_MARKER = re.compile(r"\[(\d+)\]")
_SAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")
CARD_CHARS = 280  # a hover card shows this much of the quote


def citation_key(prefix: str, n: int) -> str:
    """The widget key of citation ``n``'s expander (Streamlit adds the class ``st-key-<key>``)."""
    return _SAFE_KEY.sub("-", f"{prefix}-cit-{n}")


@dataclass(frozen=True)
class Label:
    """How a citation is named: the source's title (file name when it has none), then where."""

    title: str
    section: str
    page: int | None
    file: str

    @classmethod
    def of(cls, cit: Citation, titles: dict[str, str]) -> Label:
        """The label of ``cit`` with the titles of the sources (by source name)."""
        return cls(titles.get(cit.source) or cit.source, cit.section or "", cit.page, cit.source)

    def text(self) -> str:
        """``Title › Section · page 3`` as plain text."""
        where = f"{self.title} › {self.section}" if self.section else self.title
        return where + (f" · page {self.page}" if self.page else "")


def citation_label(cit: Citation, titles: dict[str, str]) -> str:
    """The expander label ``[n] Title › Section · page p``, escaped for Streamlit Markdown."""
    return f"\\[{cit.n}\\] {md_text(Label.of(cit, titles).text())}"


def answer_html(answer: Answer, prefix: str, titles: dict[str, str]) -> str:
    """The answer escaped, each marker ``[n]`` a link that opens citation ``n`` below.

    Hovering a marker shows a card with the source's title and the quote. A marker whose
    number has no citation stays plain text.
    """
    by_n = {c.n: c for c in answer.citations}
    parts: list[str] = []
    last = 0
    text = answer.answer
    for match in _MARKER.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        last = match.end()
        cit = by_n.get(int(match.group(1)))
        if cit is None:
            parts.append(html.escape(match.group(0)))
            continue
        label = Label.of(cit, titles)
        quote = cit.quote if len(cit.quote) <= CARD_CHARS else cit.quote[:CARD_CHARS] + "…"
        parts.append(
            f'<a class="qa-cite" href="#" data-target="{citation_key(prefix, cit.n)}" '
            f'aria-label="Open citation {cit.n}">[{cit.n}]'
            f'<span class="qa-card" role="tooltip"><b>{html.escape(label.text())}</b>'
            f"<br>{html.escape(quote)}</span></a>"
        )
    parts.append(html.escape(text[last:]))
    return '<div class="qa-answer">' + "".join(parts) + "</div>"


# Hover cards and the structured passage; constant CSS (no document text).
PAGE_STYLE = """<style>
.qa-answer { line-height: 1.6; }
.qa-cite { position: relative; font-size: .75em; vertical-align: super; text-decoration: none;
  padding: 0 .1em; font-weight: 600; }
.qa-cite .qa-card { display: none; position: absolute; left: 0; top: 1.6em; z-index: 1000;
  width: 24rem; max-width: 70vw; padding: .5rem .7rem; border-radius: .5rem;
  background: #fff; color: #31333f; font-size: .85rem;
  font-weight: 400; line-height: 1.4; box-shadow: 0 4px 16px rgba(0,0,0,.25);
  border: 1px solid rgba(128,128,128,.35); white-space: normal; }
.qa-cite:hover .qa-card, .qa-cite:focus .qa-card { display: block; }
.qa-passage-s p, .qa-passage-s pre, .qa-passage-s .qa-h, .qa-passage-s .qa-li,
.qa-passage-s .qa-row { margin: 0 0 .5rem 0; }
.qa-passage-s .qa-h { font-weight: 700; }
.qa-passage-s pre { white-space: pre-wrap; font-size: .85em; }
.qa-passage-s .qa-li::before { content: "• "; }
.qa-passage-s .qa-row { font-family: monospace; white-space: pre-wrap; }
.qa-page { margin: .6rem 0; border-top: 1px dashed rgba(128,128,128,.7); font-size: .75rem;
  color: rgba(128,128,128,1); }
.qa-flash { animation: qa-flash 1.5s ease-out; }
@keyframes qa-flash { from { box-shadow: 0 0 0 4px rgba(255,200,0,.8); } to { box-shadow: none; } }
</style>"""

# Clicking a marker opens its citation's expander (a click on its summary, so Streamlit renders
# the passage) and scrolls it into view; "copy" buttons copy their hidden text. Installed once
# per page; it holds no document text and no "<" (DOMPurify drops such scripts).
PAGE_SCRIPT = (
    "<script>(function(){if(window.__qaCites){return;}window.__qaCites=1;"
    "function show(key,tries){const box=document.querySelector('.st-key-'+key);"
    "if(!box){if(tries>0){setTimeout(function(){show(key,tries-1);},100);}return;}"
    "const d=box.querySelector('details');"
    "if(d&&!d.open){const s=d.querySelector('summary');if(s){s.click();}}"
    "box.scrollIntoView({block:'start',behavior:'instant'});"
    "box.classList.remove('qa-flash');void box.offsetWidth;box.classList.add('qa-flash');}"
    "document.addEventListener('click',function(e){"
    "const a=e.target.closest?e.target.closest('a.qa-cite'):null;"
    "if(a){e.preventDefault();show(a.dataset.target,30);return;}"
    "const c=e.target.closest?e.target.closest('button.qa-copy'):null;"
    "if(c){const t=document.getElementById(c.dataset.copy);"
    "if(t&&navigator.clipboard){navigator.clipboard.writeText(t.value).then(function(){"
    "c.textContent='Copied';setTimeout(function(){c.textContent='Copy answer';},1500);});}}"
    "},true);})();</script>"
)


def copy_button_html(text: str, dom_id: str) -> str:
    """A "Copy answer" button copying ``text`` (kept escaped in a hidden textarea)."""
    dom_id = _SAFE_KEY.sub("-", dom_id)
    return (
        f'<textarea id="{dom_id}" hidden readonly>{html.escape(text)}</textarea>'
        f'<button class="qa-copy" data-copy="{dom_id}" type="button" '
        'style="font-size:.8rem;padding:.15rem .6rem;border-radius:.4rem;'
        "border:1px solid rgba(128,128,128,.5);background:transparent;color:inherit;"
        'cursor:pointer">Copy answer</button>'
    )


def answer_text(answer: Answer, titles: dict[str, str]) -> str:
    """The answer as plain text for the clipboard: quotes with markers, then the sources."""
    lines = [answer.answer, ""]
    for cit in answer.citations:
        lines.append(f"[{cit.n}] {Label.of(cit, titles).text()} ({cit.source})")
    return "\n".join(lines).rstrip() + "\n"


_TAGS = {"heading": "div", "code": "pre", "item": "div", "row": "div", "text": "p"}
_CLASSES = {"heading": "qa-h", "item": "qa-li", "row": "qa-row"}


def structured_passage_html(src: SourceText, start: int, end: int, context: int = 600) -> str:
    """The quote in its structure, escaped, the quote in ``<mark>``, page breaks marked.

    The blocks around it show as headings, paragraphs, list items, code and table rows.
    Sources without blocks fall back to the plain context view.
    """
    blocks = src.blocks
    if not blocks:
        return passage_html(src.text, start, end, context)
    window = [b for b in blocks if b.end > start - context and b.start < end + context]
    if not any(b.start < end and b.end > start for b in window):  # quote between blocks
        return passage_html(src.text, start, end, context)
    heading = _heading_above(blocks, window[0]) if window[0].kind != "heading" else None
    parts: list[str] = []
    page = src.page_at(window[0].start) if src.pages else None
    if page is not None:
        parts.append(f'<div class="qa-page">Page {page}</div>')
    if heading is not None:  # shown whole, however far above: it says where the passage is
        parts.append(_block_html(src.text, heading, start, end, len(src.text)))
    for block in window:
        if src.pages:
            here = src.page_at(block.start)
            if here is not None and page is not None and here != page:
                parts.append(f'<div class="qa-page">Page {here}</div>')
                page = here
        parts.append(_block_html(src.text, block, start, end, context))
    return '<div class="qa-passage qa-passage-s">' + "".join(parts) + "</div>"


def _clip(text: str, block: Block, lo: int, hi: int) -> tuple[int, int]:
    """``block``'s span cut to ``[lo, hi]``, widened to whole words."""
    a, b = max(block.start, lo), min(block.end, hi)
    while a > block.start and not text[a - 1].isspace():
        a -= 1
    while b < block.end and not text[b].isspace():
        b += 1
    return a, max(a, b)


def _heading_above(blocks: list[Block], first: Block) -> Block | None:
    """The nearest heading before ``first``: where the passage sits, shown above it."""
    above = [
        b for b in blocks if b.kind == "heading" and b.end <= first.start and b.end - b.start < 300
    ]
    return above[-1] if above else None


def _block_html(text: str, block: Block, start: int, end: int, context: int) -> str:
    """One block, escaped, with the part of it inside ``[start, end)`` in ``<mark>``.

    A block reaching further than ``context`` from the quote (a long paragraph, a log with no
    blank lines) is cut at a word there, with "…", so a passage never shows a whole document.
    """
    a, b = _clip(text, block, start - context, end + context)
    lo, hi = max(a, start), min(b, end)
    before = "…" if a > block.start else ""
    after = "…" if b < block.end else ""
    if lo < hi:
        inner = (
            html.escape(before + text[a:lo])
            + f"<mark>{html.escape(text[lo:hi])}</mark>"
            + html.escape(text[hi:b] + after)
        )
    else:
        inner = html.escape(before + text[a:b] + after)
    tag = _TAGS.get(block.kind, "p")
    css = _CLASSES.get(block.kind)
    cls = f' class="{css}"' if css else ""
    return f"<{tag}{cls}>{inner}</{tag}>"
