"""The error family. Every message says what went wrong and what the user can do about it."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error this project raises on purpose; the CLI maps it to exit code 1."""

    exit_code = 1


class ConfigError(QAError):
    """A setting or argument is wrong (missing folder, bad URL, ...)."""


class SourceError(QAError):
    """One source file cannot be read or converted to text."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class StoreError(QAError):
    """The index store is missing, unreadable, or was built with another model."""


class IndexBusyError(QAError):
    """Another process holds the indexing lock for this store."""


class EmptyIndexError(StoreError):
    """The store has no chunks yet: the user must index first."""


class ConversationError(QAError):
    """The saved-conversations file is unreadable, from a newer version, or a request is invalid."""
