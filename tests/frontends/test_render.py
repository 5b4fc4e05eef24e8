import time

from core.settings import Settings
from core.types import Answer, Citation, Disagreement, SourceRow
from frontends.render import (
    Turn,
    conversation_markdown,
    disagreement_groups,
    element_id,
    md_text,
    passage_html,
    scroll_script,
    settings_summary,
    source_table,
    source_view_html,
)


def cit(n: int, quote: str = "q", source: str = "a.txt", page: int | None = None) -> Citation:
    return Citation(n=n, source=source, quote=quote, start=0, end=len(quote), score=1.0, page=page)


def test_passage_is_escaped_and_quote_marked() -> None:
    text = 'Before <script>alert(1)</script> the <img src=x onerror="alert(2)"> quote here. After.'
    start = text.index("the")
    end = text.index(". After")
    out = passage_html(text, start, end)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "&lt;img" in out
    assert out.count("<mark>") == 1
    assert "quote here</mark>" in out


def test_export_neutralises_links_and_images() -> None:
    answer = Answer(
        question="q",
        answer="![x](http://evil/a.png) [1]",
        refused=False,
        citations=[cit(1, "[l](http://e)")],
    )
    md = conversation_markdown([Turn("user", "q"), Turn("assistant", answer.answer, answer=answer)])
    assert "![x](" not in md and "[l](" not in md
    assert "`a.txt` characters 0–13" in md


def test_export_keeps_error_turns() -> None:
    md = conversation_markdown([Turn("user", "q"), Turn("assistant", "e", error="Index *empty*")])
    assert "**A:** Index \\*empty\\*" in md


def test_md_text_and_citation_label_show_names_literally() -> None:
    assert (
        md_text("![x](http://e/a.png) *b* <i>")
        == "\\!\\[x\\]\\(http\u200b\\://e/a.png\\) \\*b\\* \\<i\\>"
    )
    # Autolink triggers get a zero-width space; & stays literal; KaTeX and colours are escaped.
    assert md_text("www.example.org") == "www\u200b.example.org"
    assert "www\u200b." in md_text("see _www.evil.com") and "https\u200b" in md_text("1https://x")
    assert md_text("bob@example.com") == "bob@\u200bexample.com"
    assert md_text("a&lt;b") == "a&amp;lt;b"
    assert md_text("$x$ :red[y]") == "\\$x\\$ \\:red\\[y\\]"


def test_whole_source_view_escapes_and_scroll_script_has_no_document_text() -> None:
    text = "<script>x()</script> intro. The quote. <img src=x onerror=y()> end"
    start = text.index("The quote")
    dom_id = element_id("c0", "m1", 'x"><script>')
    assert set(dom_id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    out = source_view_html(text, start, start + len("The quote."), dom_id)
    assert "<script>" not in out and "<img" not in out and "&lt;img" in out
    assert f'<mark id="{dom_id}">The quote.</mark>' in out
    script = scroll_script(dom_id)
    body = script.removeprefix("<script>").removesuffix("</script>")
    assert "<" not in body  # DOMPurify drops scripts with "<" before a word character
    assert dom_id in body and "quote" not in body.replace(dom_id, "")


def test_source_table_formats_every_column() -> None:
    rows = source_table(
        [
            SourceRow(source="a.pdf", title="A", kind="pdf", size=2_500_000, pages=3, chunks=7,
                      indexed_at=time.time(), status="ok"),
            SourceRow(source="b.txt", status="failed", error="unreadable"),
        ]
    )  # fmt: skip
    assert rows[0]["size"] == "2.5 MB" and rows[0]["type"] == "pdf" and rows[0]["indexed at"]
    assert list(rows[0])[:3] == ["title", "status", "problem"]  # not scrolled off to the right
    assert rows[0]["status"] == "ready" and rows[0]["passages"] == 7
    assert rows[1] == {
        "title": "b.txt", "status": "could not be read", "problem": "unreadable", "type": "",
        "size": "", "pages": None, "passages": None, "indexed at": "", "file": "b.txt",
    }  # fmt: skip


def test_disagreement_groups_resolve_citation_numbers() -> None:
    cits = [cit(1, "a"), cit(2, "b")]
    answer = Answer(
        question="q",
        answer="a [1] b [2]",
        refused=False,
        citations=cits,
        disagreement=[
            Disagreement(topic="t", accounts=[1, 2, 9]),
            Disagreement(topic="u", accounts=[9]),
        ],
    )
    assert disagreement_groups(answer) == [("t", cits)]
    assert disagreement_groups(answer.model_copy(update={"disagreement": []})) == []


def test_settings_summary_names_the_llm_only_when_used() -> None:
    plain = dict(settings_summary(Settings(top_k=4)))
    assert plain["Answers"].startswith("quotes picked") and "Model" not in plain
    assert plain["Passages read per question"] == "4"
    llm = dict(settings_summary(Settings(answerer="llm", llm={"model": "m", "api_key": "sk-x"})))
    assert llm["Model"] == "openai m"
    assert "sk-x" not in repr(settings_summary(Settings(llm={"api_key": "sk-x"})))


def test_index_summaries_of_the_page_and_the_command_agree() -> None:
    from core.types import ChunkCounts, FileCounts, IndexReport
    from frontends.cli.commands import format_report
    from frontends.render import index_summary

    report = IndexReport(
        files=FileCounts(added=2, removed=1, failed=1),
        chunks=ChunkCounts(embedded=7, reused=3),
        seconds=1.25,
    )
    assert index_summary(report) == (
        "Indexed in 1.2s: 2 added, 0 changed, 1 removed, 0 unchanged, 1 failed · "
        "7 new passages, 3 reused, 0 dropped."
    )
    assert format_report(report).splitlines()[:2] == [
        "files: 2 added, 0 changed, 1 removed, 0 unchanged, 1 failed",
        "chunks: 7 embedded, 3 reused, 0 deleted",
    ]


def test_confidence_line_for_an_answer_and_a_refusal() -> None:
    from core.types import Answer
    from frontends.render import confidence_line

    sure = Answer(question="q", answer="a [1]", refused=False, confidence=0.834)
    assert confidence_line(sure) == "Confidence 83% that the first quote answers the question."
    unsure = Answer(question="q", answer="no", refused=True, confidence=0.071)
    assert confidence_line(unsure).startswith("The closest passage scored 7% ")
