"""Turn a source file into the exact text that offsets and quotes refer to.

For ``.txt`` and ``.md`` the text is what ``Path.read_text(encoding="utf-8")`` returns (universal
newlines), so a citation can be checked against the file itself. For other formats the text is
the extraction shown by ``qa show SOURCE``; PDF pages are kept as offset ranges.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from core.errors import SourceError
from core.types import Block, BlockKind, SourceText
from index.html import html_to_blocks
from index.structure import join_blocks, text_blocks

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
MAX_TEXT_CHARS = 10_000_000  # the default of QA_MAX_TEXT_MB


def relative_name(path: Path, root: Path) -> str:
    """Return the source name of ``path``: relative to ``root``, with '/' separators."""
    # A string prefix first: called for every file of every run, and pathlib is slow at it.
    full, base = path.as_posix(), root.as_posix().rstrip("/")
    if full.startswith(base + "/") and "/../" not in full and "/./" not in full:
        return full[len(base) + 1 :]
    return path.relative_to(root).as_posix()


@dataclass(frozen=True, slots=True)
class Found:
    """A candidate source file: its source name, its path, and how it was listed."""

    name: str  # relative to the sources folder, '/' separators
    path: str
    entry: os.DirEntry[str]

    def stat(self) -> os.stat_result:
        """The file's ``stat`` (following a link inside the folder), cached by the entry."""
        return self.entry.stat()


def scan(root: Path) -> tuple[list[Found], list[tuple[str, str]]]:
    """List candidate source files under ``root``, as :func:`discover`, without ``Path`` objects.

    Every index run lists every file: in a folder of thousands of files, making a ``Path`` and a
    relative name for each cost more than their ``stat`` calls.
    """
    root_resolved = root.resolve()
    found: list[Found] = []
    refused: list[tuple[str, str]] = []
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))

    # os.scandir, not os.walk + pathlib: a directory entry knows whether it is a link without
    # another system call.
    def walk(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            why = exc.strerror or str(exc)
            refused.append(
                (prefix[:-1] or ".", f"folder cannot be read ({why}); its files are not indexed")
            )
            return
        folders: list[tuple[str, str]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            try:
                linked = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=linked)
            except OSError as exc:  # listed but not enterable (no execute permission)
                refused.append((rel, f"cannot be read ({exc.strerror})"))
                continue
            if is_dir:
                if not linked:
                    folders.append((entry.path, rel + "/"))
                    continue
                # Folder links are not followed: outside ones would index files from elsewhere,
                # inside ones (even to ".") would index the same files twice or loop.
                try:
                    inside = Path(entry.path).resolve().is_relative_to(root_resolved)
                except (OSError, RuntimeError):
                    inside = False
                why = (
                    "inside the sources folder" if inside else "leading outside the sources folder"
                )
                refused.append((rel, f"folder symlink {why}; not followed"))
                continue
            if linked:
                try:
                    target = Path(entry.path).resolve()
                except (OSError, RuntimeError):  # a symlink loop
                    refused.append((rel, "symlink cannot be resolved (loop?); not indexed"))
                    continue
                if not target.is_relative_to(root_resolved):
                    refused.append((rel, "symlink leads outside the sources folder; not indexed"))
                    continue
            dot = entry.name.rfind(".")  # as os.path.splitext, for names not starting with "."
            if (entry.name[dot:].lower() if dot > 0 else "") not in SUPPORTED_SUFFIXES:
                refused.append((rel, f"unsupported file type; supported: {supported}"))
                continue
            found.append(Found(rel, entry.path, entry))
        for sub, sub_prefix in folders:
            walk(sub, sub_prefix)

    walk(str(root), "")  # a folder's files by name, then its subfolders'
    return found, refused


def discover(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """List candidate source files under ``root``.

    Hidden files and folders are skipped; symlinks leading outside ``root`` are reported.

    Returns:
        The files to index, and ``(source, error)`` pairs for files refused up front.

    """
    found, refused = scan(root)
    return [root / f.name for f in found], refused


def read_source_bytes(path: Path, root: Path, max_bytes: int) -> bytes:
    """Return a source file's bytes, refusing files over the size limit.

    Raises:
        SourceError: unreadable or too large.

    """
    rel = relative_name(path, root)
    try:
        # Checked again here, not only in discover(): `qa show` and the verifier read through
        # this function too, and a link may have been swapped since the folder was listed.
        if not path.resolve().is_relative_to(root.resolve()):
            raise SourceError(rel, "path leads outside the sources folder (symlink?); not read")
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(rel, "not a regular file (folder, pipe or device); not read")
        size = st.st_size
        if size > max_bytes:
            raise SourceError(rel, size_over_limit(size, max_bytes))
        return path.read_bytes()
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SourceError(rel, f"cannot read file: {reason}") from exc


def size_over_limit(size: int, limit: int) -> str:
    """``file is 1.2 MB, over the 1.0 MB limit (QA_MAX_FILE_MB)``, in bytes when rounding ties."""
    a, b = _human(size), _human(limit)
    if a == b:  # "1.0 MB, over the 1.0 MB limit" says nothing
        a, b = f"{size:,} bytes", f"{limit:,}-byte"
    return f"file is {a}, over the {b} limit (QA_MAX_FILE_MB)"


def _human(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e3:.1f} kB" if size >= 1000 else f"{size} bytes"


def load_source(
    path: Path, root: Path, max_bytes: int, max_chars: int = MAX_TEXT_CHARS
) -> SourceText:
    """Read and convert one file.

    Args:
        path: The file.
        root: The sources folder (names are relative to it).
        max_bytes: Larger files are refused.
        max_chars: Files whose extracted text is longer are refused.

    Raises:
        SourceError: empty, too large, binary, corrupt, encrypted or unsupported.

    """
    return load_bytes(
        relative_name(path, root), read_source_bytes(path, root, max_bytes), max_chars
    )


def load_bytes(rel: str, data: bytes, max_chars: int = MAX_TEXT_CHARS) -> SourceText:
    """Convert a file's bytes to text according to the suffix of ``rel``.

    Raises:
        SourceError: empty, binary, corrupt, encrypted, unsupported, or its text longer than
            ``max_chars`` (a small file can expand: a ZIP bomb, a PDF of repeated glyphs).

    """
    if not data.strip():
        raise SourceError(rel, "file is empty")
    suffix = Path(rel).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text, encoding = decode_text(rel, data)
        kind = "markdown" if "m" in suffix else "text"
        blocks = text_blocks(text, markdown=kind == "markdown")
        heading = next((b for b in blocks if b.kind == "heading"), None)
        if kind == "markdown" and heading:
            title = " ".join(text[heading.start : heading.end].split())[:120]
        else:
            title = text_title([text[b.start : b.end] for b in blocks[:6]])
        return _checked(SourceText(rel, text, kind, title, encoding, blocks=blocks), max_chars)
    if suffix in HTML_SUFFIXES:
        html, encoding = decode_text(rel, data)
        title, text, blocks = html_to_blocks(html)
        src = SourceText(rel, text, "html", title or _first_line(text), encoding, blocks=blocks)
        return _checked(src, max_chars)
    if suffix == ".pdf":
        return _checked(_load_pdf(rel, data), max_chars)
    if suffix == ".docx":
        return _checked(_load_docx(rel, data, max_chars), max_chars)
    raise SourceError(rel, "unsupported file type")


def _checked(src: SourceText, max_chars: int) -> SourceText:
    if not src.text.strip():
        raise SourceError(src.source, f"no text could be extracted from this {src.kind} file")
    if len(src.text) > max_chars:
        raise SourceError(
            src.source,
            f"its text runs past {max_chars:,} characters (QA_MAX_TEXT_MB); split the document",
        )
    return src


_DATELINE = re.compile(
    r"^(?:published|posted|updated|by|from|date|filed)\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b",
    re.IGNORECASE,
)


def text_title(paragraphs: list[str]) -> str:
    """A plain-text document's title: its first headline-like paragraph, else its opening.

    A headline is short and does not end like a sentence; datelines ("Published …", a date)
    and bylines are passed over. Without one, the first paragraph cut at a word serves, so two
    articles starting with a dateline still get titles that tell them apart.
    """
    lines = [" ".join(p.split()) for p in paragraphs if p.strip()]
    for line in lines:
        words = line.split()
        if (
            len(line) <= 100
            and 2 <= len(words) <= 16
            and not line.endswith((".", ",", ";", ":", "?", "!"))
            and not _DATELINE.search(line)
        ):
            return line
    if not lines:
        return ""
    first = lines[0]
    if len(first) <= 100:
        return first
    cut = first.rfind(" ", 0, 100)  # at a word; text without spaces (CJK, a URL) at 100
    return first[: cut if cut > 50 else 100].rstrip(" ,;:") + "…"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:120]
    return ""


def _newlines(text: str) -> str:
    # Exactly what text-mode reading does (universal newlines), so offsets match read_text().
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(rel: str, data: bytes) -> tuple[str, str]:
    """Decode text bytes: UTF-8 when valid, else a detected legacy encoding; binary is refused.

    Western legacy text (cp1252 / Latin-1, by far the most common) is recognised directly: its
    accented letters are a minority among ASCII letters. Anything else goes to
    ``charset_normalizer``, which guesses badly on short Western text (cp1250, cp437...).
    """
    text, encoding = "", ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        with contextlib.suppress(UnicodeDecodeError):
            text, encoding = data.decode("utf-16"), "utf-16"
    if not encoding and b"\x00" in data[:8192]:
        raise SourceError(rel, "file looks binary (NUL bytes), not text; check its type")
    if not encoding:
        with contextlib.suppress(UnicodeDecodeError):
            text, encoding = data.decode("utf-8"), "utf-8"
    western = None if encoding else _western(data)
    if western is not None:
        text, encoding = western
    elif not encoding:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None or best.encoding is None:
            raise SourceError(rel, "file is not text in any known encoding (binary data?)")
        text, encoding = str(best), best.encoding
    if "\x00" in text:
        raise SourceError(rel, "file holds NUL bytes, so it is binary, not text; check its type")
    if _control_count(text) > max(8, len(text) // 100):
        raise SourceError(rel, "file looks binary, not text; check its type")
    return _newlines(text), encoding


def _control_count(text: str) -> int:
    return sum(
        1 for ch in text if (ord(ch) < 32 and ch not in "\n\r\t\f") or 0x7F <= ord(ch) < 0xA0
    )


def _western(data: bytes) -> tuple[str, str] | None:
    """cp1252 (or Latin-1) text when the bytes read as mostly-ASCII Western European text."""
    uses_c1 = any(0x80 <= b < 0xA0 for b in data)
    try:
        text = data.decode("cp1252") if uses_c1 else data.decode("latin-1")
    except UnicodeDecodeError:
        return None  # bytes cp1252 leaves undefined: not Western text
    letters = [ch for ch in text if ch.isalpha()]
    high = sum(1 for ch in letters if ord(ch) > 0x7F)
    if not letters or high > 0.3 * len(letters):
        return None  # mostly non-ASCII letters: Cyrillic, Greek... in a legacy code page
    return text, "cp1252" if uses_c1 else "iso-8859-1"


def _load_pdf(rel: str, data: bytes) -> SourceText:
    """A PDF as a reader sees it (``index.pdf``): paragraphs joined, furniture dropped."""
    from index.pdf import PdfPasswordError, extract_pdf

    try:
        with _PDFIUM:  # pdfium is not thread-safe; the app reads while it indexes
            pdf = extract_pdf(data)
    except PdfPasswordError as exc:
        raise SourceError(
            rel, "PDF is encrypted (password protected); save an unencrypted copy to index it"
        ) from exc
    except Exception as exc:
        why = str(exc) if isinstance(exc, ValueError) else f"{exc.__class__.__name__}: {exc}"
        raise SourceError(rel, f"corrupt or unreadable PDF ({why})") from exc
    if pdf.text.count("\ufffd") > max(20, len(pdf.text) // 5):
        raise SourceError(rel, "corrupt PDF: its text does not decode (unreadable characters)")
    blocks = [Block(b.start, b.end, _PDF_KINDS.get(b.kind, "text"), b.level) for b in pdf.blocks]
    title = pdf.title or _first_line(pdf.text)
    return SourceText(rel, pdf.text, "pdf", title, "pdf", list(pdf.pages), blocks=blocks)


_PDFIUM = threading.Lock()
_PDF_KINDS: dict[str, BlockKind] = {
    "heading": "heading",
    "code": "code",
    "table_row": "row",
    "list_item": "item",
}


def _load_docx(rel: str, data: bytes, max_chars: int) -> SourceText:
    """Paragraphs in order, streamed and bounded (``index.docx``)."""
    from index.docx import DocxError, docx_blocks

    try:
        title, pieces = docx_blocks(data, max_chars)
    except DocxError as exc:
        raise SourceError(rel, f"DOCX refused: {exc}") from exc
    except Exception as exc:
        why = f"{exc.__class__.__name__}: {exc}"
        raise SourceError(rel, f"corrupt or unreadable DOCX ({why})") from exc
    text, blocks = join_blocks(pieces)
    first = blocks[0] if blocks else None
    fallback = text[first.start : first.end][:120] if first else ""
    return SourceText(rel, text, "docx", title or fallback, "docx", blocks=blocks)
