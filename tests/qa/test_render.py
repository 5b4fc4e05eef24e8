from qa.render import answer_html, conversation_markdown, passage_html


def test_passage_is_escaped_and_quote_marked() -> None:
    text = 'Before <script>alert(1)</script> the <img src=x onerror="alert(2)"> quote here. After.'
    start = text.index("the")
    end = text.index(". After")
    out = passage_html(text, start, end)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "&lt;img" in out
    assert out.count("<mark>") == 1
    assert "quote here</mark>" in out


def test_answer_markers_become_superscripts_and_html_is_escaped() -> None:
    out = answer_html("A <b>bold</b> claim. [1] Another. [2]")
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert "<sup>[1]</sup>" in out and "<sup>[2]</sup>" in out


def test_export_neutralises_links_and_images() -> None:
    md = conversation_markdown(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "answer": {
                    "answer": "![x](http://evil/a.png) [1]",
                    "citations": [
                        {"n": 1, "source": "a.txt", "start": 0, "end": 5, "quote": "[l](http://e)"}
                    ],
                },
            },
        ]
    )
    assert "![x](" not in md and "[l](" not in md
    assert "`a.txt`" in md


def test_md_text_and_citation_label_show_names_literally() -> None:
    from qa.render import citation_label, md_text

    assert (
        md_text("![x](http://e/a.png) *b* <i>")
        == "\\!\\[x\\]\\(http\\://e/a.png\\) \\*b\\* \\<i\\>"
    )
    label = citation_label({"n": 2, "source": "a_b.pdf", "page": 3})
    assert label == "\\[2\\] a\\_b.pdf, page 3"


def test_quote_status_is_stale_when_the_text_moved() -> None:
    from qa.render import quote_status

    cit = {"start": 4, "end": 9, "quote": "quick"}
    assert quote_status("The quick fox", cit) == "verified"
    assert quote_status("A quick fox", cit) == "stale"


def test_whole_source_view_escapes_and_scroll_script_has_no_document_text() -> None:
    from qa.render import element_id, scroll_script, source_view_html

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
    from qa.render import source_table

    rows = source_table(
        [
            {"source": "a.pdf", "title": "A", "kind": "pdf", "size": 2_500_000, "pages": 3,
             "chunks": 7, "indexed_at": 0, "status": "ok"},
            {"source": "b.txt", "status": "failed", "error": "unreadable"},
        ]
    )  # fmt: skip
    assert rows[0]["size"] == "2.5 MB" and rows[0]["type"] == "pdf" and rows[0]["indexed at"]
    assert rows[1] == {
        "source": "b.txt", "title": "", "type": "", "size": "", "pages": None, "chunks": None,
        "indexed at": "", "status": "failed", "error": "unreadable",
    }  # fmt: skip


def test_disagreement_groups_resolve_citation_numbers() -> None:
    from qa.render import disagreement_groups

    cits = [{"n": 1, "quote": "a"}, {"n": 2, "quote": "b"}]
    answer = {
        "citations": cits,
        "disagreement": [{"topic": "t", "accounts": [1, 2, 9]}, {"topic": "u", "accounts": [9]}],
    }
    assert disagreement_groups(answer) == [("t", cits)]
    assert disagreement_groups({"citations": cits}) == []


def test_progress_text() -> None:
    from types import SimpleNamespace

    from qa.render import progress_text

    frac, text = progress_text(
        SimpleNamespace(
            files_done=1, files_total=2, chunks_done=5, chunks_total=10, rate=2.0, eta=3
        )
    )
    assert frac == 0.5 and text == "Files 1/2 · chunks embedded 5/10 (2.0/s, ETA 3s)"
