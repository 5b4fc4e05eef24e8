"""Turn a source file into the exact text that offsets and quotes refer to.

For ``.txt`` and ``.md`` the text is what ``Path.read_text(encoding="utf-8")`` returns (universal
newlines), so a citation can be checked against the file itself. For other formats the text is
the extraction shown by ``qa show SOURCE``; PDF pages are kept as offset ranges.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import SourceError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}


@dataclass(slots=True)
class SourceText:
    """The extracted text of one source, with page ranges for paged formats."""

    source: str
    text: str
    kind: str
    title: str = ""
    encoding: str = "utf-8"
    pages: list[tuple[int, int]] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for formats without pages."""
        for number, (start, end) in enumerate(self.pages, 1):
            if start <= offset < end:
                return number
        return len(self.pages) if self.pages and offset >= self.pages[-1][1] else None


def relative_name(path: Path, root: Path) -> str:
    """The source name of ``path``: relative to ``root``, with '/' separators."""
    return path.relative_to(root).as_posix()


def discover(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """List candidate source files under ``root``.

    Hidden files and folders are skipped; symlinks leading outside ``root`` are reported.

    Returns:
        The files to index, and ``(source, error)`` pairs for files refused up front.
    """
    root_resolved = root.resolve()
    files: list[Path] = []
    refused: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = relative_name(path, root)
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root_resolved):
                    refused.append((rel, "symlink leads outside the sources folder; not indexed"))
                    continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                refused.append((rel, f"unsupported file type; supported: {supported}"))
                continue
            files.append(path)
    return files, refused


def read_source_bytes(path: Path, root: Path, max_bytes: int) -> bytes:
    """A source file's bytes, refusing files over the size limit.

    Raises:
        SourceError: unreadable or too large.
    """
    rel = relative_name(path, root)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                rel, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit "
                "(QA_MAX_FILE_MB)"
            )
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(rel, f"cannot read file: {exc.strerror or exc}") from exc


def load_source(path: Path, root: Path, max_bytes: int) -> SourceText:
    """Read and convert one file.

    Args:
        path: The file.
        root: The sources folder (names are relative to it).
        max_bytes: Larger files are refused.

    Raises:
        SourceError: empty, too large, binary, corrupt, encrypted or unsupported.
    """
    return load_bytes(relative_name(path, root), read_source_bytes(path, root, max_bytes))


def load_bytes(rel: str, data: bytes) -> SourceText:
    """Convert a file's bytes to text according to the suffix of ``rel``."""
    if not data.strip():
        raise SourceError(rel, "file is empty")
    suffix = Path(rel).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text, encoding = decode_text(rel, data)
        title = _first_line(text)
        return _checked(SourceText(rel, text, "markdown" if "m" in suffix else "text", title, encoding))
    if suffix in HTML_SUFFIXES:
        html, encoding = decode_text(rel, data)
        title, text = html_to_text(html)
        return _checked(SourceText(rel, text, "html", title or _first_line(text), encoding))
    if suffix == ".pdf":
        return _checked(_load_pdf(rel, data))
    if suffix == ".docx":
        return _checked(_load_docx(rel, data))
    raise SourceError(rel, "unsupported file type")


def _checked(src: SourceText) -> SourceText:
    if not src.text.strip():
        raise SourceError(src.source, f"no text could be extracted from this {src.kind} file")
    return src


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:120]
    return ""


def _newlines(text: str) -> str:
    # Exactly what text-mode reading does (universal newlines), so offsets match read_text().
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(rel: str, data: bytes) -> tuple[str, str]:
    """Decode text bytes: UTF-8 when valid, else a detected legacy encoding; binary is refused."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(rel, "file looks binary (NUL bytes), not text; check its type")
    try:
        return _newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise SourceError(rel, "file is not text in any known encoding (binary data?)")
    text = str(best)
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise SourceError(rel, "file looks binary, not text; check its type")
    return _newlines(text), best.encoding


_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "li", "ul", "ol", "table", "tr",
    "h1", "h2", "h3", "h4", "h5", "h6", "br", "blockquote", "pre", "main", "aside", "dd", "dt",
    "figcaption", "td", "th",
}  # fmt: skip


def html_to_text(html: str) -> tuple[str, str]:
    """Main text and title of an HTML page: no markup, scripts, styles or navigation."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "head", "iframe"]):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    for tag in body.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    raw = body.get_text("")
    lines = [re.sub(r"[ \t\f\v\u00a0]+", " ", line).strip() for line in raw.splitlines()]
    text = "\n".join(line for line in lines if line)
    return title, text


def _load_pdf(rel: str, data: bytes) -> SourceText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise SourceError(rel, "PDF is encrypted; save an unencrypted copy to index it")
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        pos = 0
        for page in reader.pages:
            page_text = _newlines(page.extract_text() or "").strip()
            parts.append(page_text)
            pages.append((pos, pos + len(page_text)))
            pos += len(page_text) + 2  # pages are joined by a blank line
        meta = reader.metadata
        title = str(meta.title) if meta and meta.title else ""
    except SourceError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise SourceError(rel, f"corrupt or unreadable PDF ({exc.__class__.__name__}: {exc})") from exc
    text = "\n\n".join(parts)
    return SourceText(rel, text, "pdf", title or _first_line(text), "pdf", pages)


def _load_docx(rel: str, data: bytes) -> SourceText:
    import zipfile

    from docx import Document as DocxDocument

    try:
        doc = DocxDocument(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SourceError(rel, f"corrupt or unreadable DOCX ({exc.__class__.__name__})") from exc
    lines = [p.text.strip() for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    text = "\n".join(line for line in lines if line)
    title = doc.core_properties.title or _first_line(text)
    return SourceText(rel, text, "docx", title, "docx")
