"""Blocks and units of plain text and Markdown: wraps joined, headings and lists apart."""

from __future__ import annotations

from core.types import SourceText, Unit, decode_units, encode_units
from index.structure import heading_paths, split_units, text_blocks, units_of

WRAPPED = """INSTALLATION
============

R expects a stack size of at least 8MB, and this is the default on
most platforms.  Some builds need more: see the section on
compilers.

- First item of a list that wraps
  onto a second line.
- Second item.

The call that does it is:

    ulimit -s 16384

2.2 Fixed-width-format files

Function read.fwf provides a simple way to read such files.
"""


def _texts(text: str) -> list[str]:
    return [text[u.start : u.end] for u in units_of(text, text_blocks(text))]


def test_wrapped_lines_inside_a_paragraph_are_one_sentence() -> None:
    units = _texts(WRAPPED)
    assert (
        "R expects a stack size of at least 8MB, and this is the default on\nmost platforms."
        in units
    )
    assert "Some builds need more: see the section on\ncompilers." in units


def test_headings_lists_and_code_are_their_own_blocks() -> None:
    blocks = text_blocks(WRAPPED)
    by_text = {WRAPPED[b.start : b.end]: b for b in blocks}
    assert by_text["INSTALLATION"].kind == "heading" and by_text["INSTALLATION"].level == 1
    assert "- First item of a list that wraps\n  onto a second line." in by_text
    assert "- Second item." in by_text
    assert by_text["ulimit -s 16384"].kind == "code"
    assert by_text["2.2 Fixed-width-format files"].kind == "heading"
    assert by_text["2.2 Fixed-width-format files"].level == 2
    assert "============" not in " ".join(by_text)


def test_one_paragraph_a_line_text_keeps_each_line_apart() -> None:
    text = (
        "Judge Approves Data Sharing Plan\n"
        "A federal judge ruled in favour of the administration on Monday, allowing the agency "
        "to keep using the data it had requested from the tax authority last spring\n"
        "The groups said they would appeal the ruling as soon as the written opinion is out.\n"
    )
    units = _texts(text)
    assert units[0] == "Judge Approves Data Sharing Plan"
    assert units[1].endswith("last spring")


def test_heading_paths_nest_by_level() -> None:
    text = "# Guide\n\n## Install\n\nRun it.\n\n## Use\n\nCall it.\n"
    blocks = text_blocks(text, markdown=True)
    paths = {text[b.start : b.end]: p for b, p in heading_paths(text, blocks)}
    assert paths["Run it."] == "Guide › Install"
    assert paths["Call it."] == "Guide › Use"


def test_markdown_front_matter_is_not_content_and_fences_are_code() -> None:
    text = "---\ntitle: Notes\n---\n# Notes\n\nSee below:\n\n```\nprint(1)\n```\n"
    blocks = text_blocks(text, markdown=True)
    assert [(text[b.start : b.end], b.kind) for b in blocks] == [
        ("Notes", "heading"),
        ("See below:", "text"),
        ("print(1)", "code"),
    ]


def test_units_survive_their_compact_metadata_form() -> None:
    units = split_units(WRAPPED)
    assert decode_units(encode_units(units)) == units
    assert decode_units("") is None and decode_units("1,2,x") is None
    assert Unit(0, 3, "heading", True) in decode_units("0,3,h.") or []
    assert SourceText("a.txt", "x", "text").blocks == []


def test_a_heading_inside_a_chunk_changes_the_section_of_what_follows() -> None:
    from index.chunking import chunk_source

    text = (
        "# Install\n\nRun the installer from the download page.\n\n# Uninstall\n\n"
        "To remove the tool, delete its folder and restart the shell.\n"
    )
    (chunk,) = chunk_source(SourceText("x.md", text, "markdown"))
    sections = {chunk.text[u.start : u.end]: chunk.section_of(i) for i, u in enumerate(chunk.units)}
    assert sections["Run the installer from the download page."] == "Install"
    assert sections["To remove the tool, delete its folder and restart the shell."] == "Uninstall"
