"""Read the current text of sources safely: the ground truth every quote is verified against."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError, SourceError
from core.types import SourceText
from index.loaders import SUPPORTED_SUFFIXES, load_source


class SourceReader:
    """Loads a source's extracted text, cached until the file's size or mtime changes.

    ``shared`` is where text comes from when the file is not in this instance's folder: on a
    shared Chroma server, the text stored by whichever instance indexed it.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int = 20_000_000,
        shared: Callable[[str], SourceText | None] | None = None,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.shared = shared
        self._cache: dict[str, tuple[tuple[int, int], SourceText]] = {}
        self._lock = threading.Lock()

    def path_of(self, source: str) -> Path:
        """The file behind a source name; names escaping the sources folder are refused."""
        path = (self.root / source).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise SourceError(source, "leads outside the sources folder; refused")
        return self.root / source

    def read(self, source: str) -> SourceText:
        """The extracted text of ``source`` as it is on disk now.

        Raises:
            SourceError: the file is gone, unreadable or not convertible.

        """
        path = self.path_of(source)
        try:
            st = path.stat()
        except OSError as exc:
            stored = self.shared(source) if self.shared else None
            if stored is not None:
                return stored
            raise SourceError(source, "file no longer exists; re-index to drop it") from exc
        key = (st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(source)
            if hit and hit[0] == key:
                return hit[1]
        text = load_source(path, self.root, self.max_bytes)
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
    stem = stem[:100]
    candidate = f"{stem}.{suffix}"
    n = 2
    while candidate.lower() in {e.lower() for e in existing}:
        candidate = f"{stem}-{n}.{suffix}"
        n += 1
    return candidate
