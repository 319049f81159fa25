"""Domain errors raised by the services and selectors.

Each class carries the sentence a person reads; pages and the API map the classes to their
own presentation (an HTML message, an HTTP status) in one place each.
"""

from datetime import datetime


class DomainError(Exception):
    message = "The request could not be carried out."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def detail(self) -> str:
        return str(self)


class MessageNotFound(DomainError):
    message = "There is no such message."


class RevisionNotFound(DomainError):
    message = "That message has no such version."


class MessageGone(DomainError):
    message = "This message was deleted."


class NotAllowed(DomainError):
    message = "You are not allowed to do that."


class InvalidBody(DomainError):
    """Input that can never be saved: empty, too long a subject, NUL bytes, not Unicode text."""

    message = "The message is not valid."

    def __init__(self, message: str | None = None, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


class BodyTooLarge(InvalidBody):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body is larger than the limit of {limit:,} bytes.", field="body")
        self.limit = limit


class LeaseHeld(DomainError):
    """Someone holds the message's editing lease."""

    def __init__(self, holder: str, expires_at: datetime) -> None:
        super().__init__(f"{holder} is editing this message until {expires_at:%H:%M:%S} UTC.")
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(DomainError):
    message = (
        "Your editing lease is no longer valid: it expired, was released, was broken, "
        "or was taken over from another tab."
    )


class AlreadyCurrent(DomainError):
    """A revert to the version the message is at: it would change nothing."""

    message = "That version is already the current one: restoring it would change nothing."


class VersionConflict(DomainError):
    message = "The message was changed since you opened it."

    def __init__(self, current_version: int | None = None) -> None:
        if current_version is None:
            super().__init__()
        else:
            super().__init__(f"The message was changed since you opened it: it is now at version {current_version}.")
        self.current_version = current_version


SUBJECT_EMPTY = "The subject must not be empty."
SUBJECT_TOO_LONG = "The subject must be at most 200 characters."
BODY_EMPTY = "The body must not be empty."
NUL_NOT_ALLOWED = "The {field} must not contain NUL characters."
NOT_TEXT = "The {field} is not valid Unicode text."
PROTECTED = "This message is protected: only a moderator can edit it."
PROTECT_NOT_ALLOWED = "Only a moderator can protect or unprotect a message."
LEASE_EVENTS_NOT_ALLOWED = "Only a moderator can read who held a message's editing lease."
