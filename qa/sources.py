"""Read the current text of sources safely: the ground truth every quote is verified against."""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError, SourceError
from core.types import SourceText
from index.loaders import (
    MAX_TEXT_CHARS,
    SUPPORTED_SUFFIXES,
    load_bytes,
    read_source_bytes,
    relative_name,
)


class SourceReader:
    """Loads a source's extracted text, cached until the file's content changes.

    ``shared`` is where text comes from when the file is not in this instance's folder: on a
    shared Chroma server, the text stored by whichever instance indexed it.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int = 20_000_000,
        shared: Callable[[str], SourceText | None] | None = None,
        max_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_chars = max_chars
        self.shared = shared
        self._cache: dict[str, tuple[str, SourceText]] = {}
        self._lock = threading.Lock()

    def path_of(self, source: str) -> Path:
        """The file behind a source name; names escaping the sources folder are refused."""
        path = (self.root / source).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise SourceError(source, "leads outside the sources folder; refused")
        return self.root / source

    def read(self, source: str) -> SourceText:
        """The extracted text of ``source`` as it is on disk now.

        The cache is keyed by a hash of the file's bytes, not its size and mtime: an edit that
        keeps both (a restored mtime) is still seen, so a stale quote is never "verified".

        Raises:
            SourceError: the file is gone, unreadable or not convertible.

        """
        path = self.path_of(source)
        try:
            path.lstat()
        except FileNotFoundError as exc:
            stored = self.shared(source) if self.shared else None
            if stored is not None:
                return stored
            raise SourceError(
                source,
                "the file is no longer in the sources folder, so quotes of it cannot be checked",
            ) from exc
        except OSError as exc:  # a folder on the way that cannot be entered
            raise SourceError(source, f"cannot read file: {exc.strerror or exc}") from exc
        data = read_source_bytes(path, self.root, self.max_bytes)
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            hit = self._cache.get(source)
            if hit and hit[0] == key:
                return hit[1]
        text = load_bytes(relative_name(path, self.root), data, self.max_chars)
        with self._lock:
            self._cache[source] = (key, text)
        return text


_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_upload_name(client_name: str, existing: set[str]) -> str:
    """A server-side file name for an upload; the client's name is only a hint.

    Path parts are dropped, characters outside a small safe set replaced, hidden names refused,
    the suffix must be supported, and an existing name gets ``-2``, ``-3``... (no silent overwrite).

    Raises:
        ConfigError: the name has no usable stem or an unsupported suffix.

    """
    name = unicodedata.normalize("NFC", client_name).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    suffix = suffix.lower()
    if not dot or not stem or f".{suffix}" not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise ConfigError(f"{client_name!r}: unsupported file type; supported: {supported}")
    # File systems limit a name to 255 bytes, not characters (a CJK character is 3 in UTF-8);
    # room is left for the suffix and a "-NN" that tells two uploads of one name apart.
    stem = _cut_bytes(stem, _NAME_BYTES - len(suffix.encode()) - 8)
    candidate = f"{stem}.{suffix}"
    n = 2
    while candidate.lower() in {e.lower() for e in existing}:
        candidate = f"{stem}-{n}.{suffix}"
        n += 1
    return candidate


_NAME_BYTES = 255


def _cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", "ignore").rstrip(" ._")
