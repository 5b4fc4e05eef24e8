"""Test plumbing: a store that SIGKILLs its process after a given number of writes.

The crash tests run ``qa index`` in a subprocess whose store is wrapped in this, so the process
stops at exact points between store writes, the way ``kill -9`` would.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from index.store import Store


class CrashAfter:
    """The store, except that the process SIGKILLs itself after ``limit`` writes.

    ``limit=0`` kills it at the first write, before that write happens.
    """

    WRITES = frozenset(
        {
            "add_chunks",
            "update_chunk_metadata",
            "delete_chunks",
            "put_source",
            "put_sources",
            "delete_source",
            "put_sentence_vectors",
            "delete_sentence_vectors",
            "log_change",
            "mark_run",
            "unmark_run",
        }
    )

    def __init__(self, store: Store, limit: int) -> None:
        self._store = store
        self.left = limit

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.left <= 0:
                self._die()
            result = attr(*args, **kwargs)
            self.left -= 1
            if self.left <= 0:
                self._die()
            return result

        return write

    @staticmethod
    def _die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)
