"""Errors that services raise for the user to read."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused change, with a message in the user's language; nothing was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    """The actor's roles do not allow this change."""
