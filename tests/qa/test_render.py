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
