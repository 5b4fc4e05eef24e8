"""One writer per store: a ``flock`` for one machine, a lease in Chroma for a shared server."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from core.errors import IndexBusyError


def lock_path(store_dir: Path) -> Path:
    """Return the indexing lock file of a store."""
    return store_dir / "index.lock"


class IndexLock:
    """``with IndexLock(path, timeout):`` holds an exclusive ``flock`` on ``path``."""

    def __init__(self, path: Path, timeout: float = 0.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> IndexLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise IndexBusyError(
                        f"Indexing is already in progress for this store (process {holder}). "
                        "Wait for it to finish and try again; answers keep working meanwhile."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def is_locked(path: Path) -> bool:
        """Tell whether another process holds the lock (the app shows 'indexing')."""
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


class NoLease:
    """Stands in for :class:`IndexLease` when the store is not shared."""

    def __init__(self) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def __enter__(self) -> NoLease:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def ensure_held(self) -> None:
        """Nothing to check."""


class IndexLease:
    """``with IndexLease(store, timeout):`` one writer among instances sharing a Chroma server.

    A ``flock`` only reaches processes of one machine. Instances that share a Chroma server
    coordinate through a lease record in the store's ``qa_meta`` collection instead: the holder
    writes its owner id and an expiry, renews it from a background thread while it indexes,
    and deletes it when done. A holder that dies stops renewing, and its lease lapses after
    ``ttl`` seconds. Chroma has no compare-and-set, so a taker writes its claim, waits
    ``settle`` seconds (longer than any write in flight takes to land), and reads the record
    back: of claims racing for a free lease, the last written wins and everyone reads the same
    winner. Times come from the server's clock (its heartbeat), so client clocks may differ.
    """

    def __init__(
        self,
        store: LeaseStore,
        timeout: float = 0.0,
        *,
        ttl: float = 30.0,
        settle: float = 0.5,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.ttl = ttl
        self.settle = settle
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> IndexLease:
        deadline = time.monotonic() + self.timeout
        while True:
            holder = self.store.read_lease()
            now = self.store.server_time()
            if holder is None or holder["expires"] <= now or holder["owner"] == self.owner:
                self.store.write_lease(self.owner, now + self.ttl)
                # Read back twice: a rival's claim delayed past the first read still shows up.
                time.sleep(self.settle)
                holder = self.store.read_lease()
                if holder is not None and holder["owner"] == self.owner:
                    time.sleep(self.settle)
                    holder = self.store.read_lease()
                    if holder is not None and holder["owner"] == self.owner:
                        break
            if time.monotonic() >= deadline:
                who = holder["owner"] if holder else "another instance"
                raise IndexBusyError(
                    f"Indexing is already in progress on this Chroma server ({who}). Wait for "
                    f"it to finish and try again; answers keep working meanwhile."
                )
            time.sleep(0.5)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="qa-lease", daemon=True)
        self._renewer.start()
        return self

    def ensure_held(self) -> None:
        """Raise ``IndexBusyError`` if the lease lapsed and another instance took it.

        The indexer calls this between write groups: every write is idempotent and ordered
        for crash safety, so stopping there leaves a store the next run completes.
        """
        holder = self.store.read_lease()
        if holder is None or holder["owner"] != self.owner:
            raise IndexBusyError(
                "Another instance took over indexing on this Chroma server (this one stalled "
                "past its lease); its run will finish the work."
            )

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                holder = self.store.read_lease()
                if holder is None or holder["owner"] != self.owner:
                    return  # lost (lapsed and taken): the new holder's writes are idempotent
                self.store.write_lease(self.owner, self.store.server_time() + self.ttl)
            except Exception:  # a failed renewal is retried; the lease outlives a few misses
                continue

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        holder = self.store.read_lease()
        if holder is not None and holder["owner"] == self.owner:
            self.store.delete_lease()

    @staticmethod
    def is_held(store: LeaseStore) -> bool:
        """Tell whether some instance holds an unexpired lease (the app shows 'indexing')."""
        holder = store.read_lease()
        return holder is not None and holder["expires"] > store.server_time()


class LeaseStore(Protocol):
    """Where leases live (``index.store.Store`` fits)."""

    def read_lease(self) -> dict[str, Any] | None: ...  # noqa: D102

    def write_lease(self, owner: str, expires: float) -> None: ...  # noqa: D102

    def delete_lease(self) -> None: ...  # noqa: D102

    def server_time(self) -> float: ...  # noqa: D102
