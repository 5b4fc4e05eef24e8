"""HTML to the text a reader sees, with its structure: headings, paragraphs, list items, code, rows.

Whitespace inside inline content collapses as a browser renders it; block elements end
paragraphs; ``pre`` keeps its lines; a data table becomes one line per row (cells joined by
" | "). Navigation, headers, footers, sidebars, tables of contents, scripts, styles and forms are
dropped: by tag and ARIA role, by class or id names that mean furniture (the signals Mozilla's
Readability uses), and by link density (a list or box that is mostly links is navigation).
Blocks are joined by a blank line, so ``text[block.start:block.end]`` is each block's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.types import Block, BlockKind
from index.structure import join_blocks

_DROP_TAGS = [
    "script", "style", "noscript", "template", "svg", "math", "nav", "head", "iframe", "form",
    "button", "object", "embed", "canvas", "select", "input", "textarea", "header", "footer",
    "aside", "map", "audio", "video", "dialog",
]  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
# Class/id names of page furniture, unless the same element also says it holds the content.
# Distinctive names match anywhere ("sphinxsidebar", "navbar"); short or common words match
# only as a whole word of the name, so "canvas", "shared-data" or "unrelated" are kept.
_FURNITURE = re.compile(
    r"sidebar|navbar|navigation|breadcrumb|footer|masthead|pagination|tableofcontents|"
    r"searchbox|searchbar|(?<![a-z])(?:nav|menu|header|toc|related|pager|banner|skip|social|"
    r"share|cookie|tagline|copyright|search|advert|sponsor|popup|modal|menubar|topbar)"
    r"(?![a-z])",
    re.IGNORECASE,
)
_CONTENT = re.compile(r"\b(?:main|content|article|body|post|entry|document)\b", re.IGNORECASE)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "figure", "figcaption", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
    "address", "details", "summary", "center", "fieldset", "legend", "hr", "body", "html",
}  # fmt: skip
# Content by nature, whatever its class says (a heading styled "section-header").
_KEEP_ALWAYS = {
    "body",
    "html",
    "main",
    "article",
    "pre",
    "code",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
_LAYOUT_INSIDE = ["p", "div", "ul", "ol", "pre", "table", "h1", "h2", "h3", "h4", "dl"]


@dataclass
class _Builder:
    pieces: list[tuple[str, BlockKind, int]] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    items: int = 0  # depth of list items being read

    def add(self, text: str, kind: BlockKind, level: int = 0) -> None:
        self.pieces.append((text, kind, level))

    def flush(self) -> None:
        text = " ".join("".join(self.inline).split())
        self.inline = []
        self.add(text, "item" if self.items else "text")


def html_to_blocks(html: str) -> tuple[str, str, list[Block]]:
    """Return the title, the reader's text and its blocks of an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    _drop_furniture(soup)
    articles = soup.find_all("article")
    root = (
        soup.find("main")
        or soup.find(role="main")
        or (articles[0] if len(articles) == 1 else None)
        or soup.body
        or soup
    )
    out = _Builder()
    _walk(root, out)
    out.flush()
    text, blocks = join_blocks(out.pieces)
    if not title:
        first = next((b for b in blocks if b.kind == "heading"), None)
        title = text[first.start : first.end] if first else ""
    return title, text, blocks


def _drop_furniture(soup: Any) -> None:
    from bs4 import Tag

    for tag in list(soup.find_all(True)):
        if not isinstance(tag, Tag) or tag.decomposed:
            continue
        attrs = tag.attrs or {}
        if attrs.get("role") in _DROP_ROLES or attrs.get("aria-hidden") == "true":
            tag.decompose()
            continue
        names = " ".join([*(attrs.get("class") or []), str(attrs.get("id") or "")])
        furniture = bool(names.strip()) and bool(_FURNITURE.search(names))
        if furniture and not _CONTENT.search(names) and tag.name not in _KEEP_ALWAYS:
            tag.decompose()
            continue
        if tag.name in ("ul", "ol", "div", "table", "section", "p", "dl") and _link_dense(tag):
            tag.decompose()


def _link_dense(tag: Any) -> bool:
    """Mostly links (three or more): a menu, a table of contents, a 'see also' bar."""
    links = tag.find_all("a")
    if len(links) < 3:
        return False
    text = len(" ".join(tag.get_text(" ").split()))
    linked = sum(len(" ".join(a.get_text(" ").split())) for a in links)
    return text == 0 or linked / text >= 0.7


def _walk(node: Any, out: _Builder) -> None:
    from bs4 import Comment, NavigableString, Tag

    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not CData, doctype, processing instruction
                out.inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in _HEADINGS:
            out.flush()
            out.add(" ".join(child.get_text(" ").split()), "heading", _HEADINGS[name])
        elif name == "pre":
            out.flush()
            code = child.get_text("").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
            lines = [line.rstrip() for line in code.split("\n")]
            out.add("\n".join(lines).strip(), "code")
        elif name == "br":
            out.flush()
        elif name == "tr" and not child.find(_LAYOUT_INSIDE):
            out.flush()
            cells = [" ".join(c.get_text(" ").split()) for c in child.find_all(["td", "th"])]
            out.add(" | ".join(c for c in cells if c), "row")
        elif name == "img":
            continue
        elif name == "li":
            out.flush()
            out.items += 1
            _walk(child, out)
            out.flush()
            out.items -= 1
        elif name in _BLOCKS:
            out.flush()
            _walk(child, out)
            out.flush()
        else:
            _walk(child, out)
