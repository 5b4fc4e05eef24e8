"""DOCX files built for tests and benchmarks: an ordinary package with a chosen document body."""

from __future__ import annotations

import io
import zipfile

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_with_body(body_xml: str) -> bytes:
    """A DOCX (python-docx's default template) whose ``word/document.xml`` body is ``body_xml``."""
    from docx import Document

    buf = io.BytesIO()
    Document().save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = (
                    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    f'<w:document xmlns:w="{W_NS}"><w:body>{body_xml}</w:body></w:document>'
                ).encode()
            dst.writestr(item, data)
    return out.getvalue()
