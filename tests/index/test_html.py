"""HTML pages read as a browser shows them: whole paragraphs, structure kept, furniture dropped."""

from __future__ import annotations

from index.chunking import chunk_source
from index.loaders import load_bytes
from index.structure import units_of

PAGE = b"""<!DOCTYPE html>
<html><head><title>Widget Manual</title><style>p { color: red }</style></head>
<body>
<div class="menu mainmenu"><ul>
<li><a href="index.html">Home</a><li><a href="docs.html">Documentation</a>
<li><a href="download.html">Download</a><li><a href="support.html">Support</a></ul></div>
<nav><a href="prev.html">Previous topic</a> <a href="next.html">Next topic</a></nav>
<div class="toc"><a href="#a">1. Setup</a><a href="#b">2. Use</a><a href="#c">3. Limits</a></div>
<h1>Widget Manual</h1>
<h2 id="setup">1. Setup</h2>
<p>The AUTOINCREMENT keyword imposes extra CPU, memory,
disk space, and disk I/O overhead and should be
avoided if not strictly needed.  It is usually
not needed.</p>
<p>A connection is created by calling:</p>
<pre>
zz &lt;- textConnection(LETTERS)
close(zz)
</pre>
<dl><dt>Covering index</dt><dd>An index that holds
every column a query needs, so the table is never read.</dd></dl>
<table><tr><th>Type</th><th>Affinity</th></tr><tr><td>VARCHAR(255)</td><td>TEXT</td></tr></table>
<script>document.write("Tracking code runs here.")</script>
<footer>Copyright 2024 Widget Corp. All rights reserved.</footer>
</body></html>"""


def test_hard_wrapped_paragraphs_come_out_as_whole_sentences() -> None:
    src = load_bytes("manual.html", PAGE)
    units = [src.text[u.start : u.end] for u in units_of(src.text, src.blocks)]
    assert (
        "The AUTOINCREMENT keyword imposes extra CPU, memory, disk space, and disk I/O overhead "
        "and should be avoided if not strictly needed." in units
    )
    assert "It is usually not needed." in units
    assert "An index that holds every column a query needs, so the table is never read." in units


def test_structure_is_kept_and_furniture_dropped() -> None:
    src = load_bytes("manual.html", PAGE)
    kinds = {src.text[b.start : b.end]: (b.kind, b.level) for b in src.blocks}
    assert kinds["1. Setup"] == ("heading", 2)
    assert kinds["zz <- textConnection(LETTERS)\nclose(zz)"] == ("code", 0)
    assert kinds["Type | Affinity"] == ("row", 0)
    assert kinds["Covering index"] == ("text", 0)
    for furniture in ("Home", "Previous topic", "Next topic", "Tracking", "Copyright", "3. Limits"):
        assert furniture not in src.text
    assert src.title == "Widget Manual"
    for b in src.blocks:  # offsets are exact and blocks are separated by a blank line
        assert src.text[b.start : b.end].strip() == src.text[b.start : b.end]


def test_chunks_carry_their_heading_path() -> None:
    src = load_bytes("manual.html", PAGE)
    chunks = chunk_source(src)
    assert chunks[0].section == "Widget Manual › 1. Setup"
    for chunk in chunks:
        assert src.text[chunk.start : chunk.end] == chunk.text
        for u in chunk.units:
            assert 0 <= u.start < u.end <= len(chunk.text)


def test_furniture_is_told_by_whole_class_words_not_substrings() -> None:
    page = b"""<html><body>
    <div class="sphinxsidebar"><p>Previous topic and quick search live here.</p></div>
    <div class="related-links"><p>See also these other pages.</p></div>
    <div class="canvas shared-data"><p>The harbour dues rose by a tenth in spring.</p></div>
    <div class="unrelated-note"><p>Ferries run twice a day.</p></div>
    </body></html>"""
    text = load_bytes("p.html", page).text
    assert "harbour dues rose" in text and "Ferries run twice" in text
    assert "Previous topic" not in text and "See also" not in text
