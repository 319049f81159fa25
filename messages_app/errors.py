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


class BoardNotFound(DomainError):
    message = "There is no such board."


class BoardExists(DomainError):
    message = "A board with that slug already exists."


class UnknownAudience(DomainError):
    message = "The audience must be everyone, members or the name of a group."


class RevisionNotFound(DomainError):
    message = "That message has no such version."


class MessageGone(DomainError):
    message = "This message was deleted."


class NotAllowed(DomainError):
    message = "You are not allowed to do that."


class InvalidInput(DomainError):
    """Input that can never be saved, naming its field: empty, too long, NUL bytes, not Unicode text."""

    message = "The message is not valid."

    def __init__(self, message: str | None = None, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


class InvalidSearch(InvalidInput):
    """A search query that cannot be asked: empty, only punctuation, or too long."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="q")


class SearchTooBroad(DomainError):
    """A search that ran past its time limit: words each in most messages, but seldom together."""

    message = (
        "This search took too long: its words are each in very many messages. "
        "Add a rarer word, or put words that belong together in double quotes."
    )


class BodyTooLarge(InvalidInput):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body is larger than the limit of {limit:,} bytes.", field="body")
        self.limit = limit


class LeaseHeld(DomainError):
    """Someone holds the message's editing lease."""

    def __init__(self, holder: str, expires_at: datetime) -> None:
        super().__init__(f"{holder} is editing this message until {expires_at:%H:%M:%S} UTC.")
        self.holder = holder
        self.expires_at = expires_at


class LeaseReserved(LeaseHeld):
    """Nobody holds the lease, but it is kept for the first person who was waiting for it."""

    def __init__(self, holder: str, expires_at: datetime) -> None:
        DomainError.__init__(
            self,
            f"It is {holder}'s turn to edit this message: they were waiting first, and it is kept for them "
            f"until {expires_at:%H:%M:%S} UTC.",
        )
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


class TooManyLeases(DomainError):
    """The user already holds as many editing leases as one person may."""

    def __init__(self, limit: int, held: list[tuple[int, str]]) -> None:
        super().__init__(
            f"You are already editing {len(held)} messages, the most one person may edit at once: "
            "save or cancel one of them first."
        )
        self.limit = limit
        self.held = held


class LeaseCooldown(DomainError):
    """A moderator broke this user's lease on this message a short while ago."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"A moderator ended your editing of this message: you can take it again in about {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )
        self.retry_after = retry_after


class DraftNotFound(DomainError):
    message = "You have no draft of this message."


class DraftOutOfSequence(DomainError):
    """A draft write whose sequence number is not above the stored one: it is older, or sent twice."""

    def __init__(self, stored_seq: int) -> None:
        super().__init__(
            f"A newer draft of this message is already saved (sequence {stored_seq}): this one was not kept."
        )
        self.stored_seq = stored_seq


class TooManyDrafts(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} drafts, the most one person may keep: save or discard one of them first."
        )
        self.limit = limit


class TokenNotFound(DomainError):
    """No live API token of this user has that id (someone else's, revoked, expired or made up)."""

    message = "You have no such API token."


class TooManyTokens(DomainError):
    """The user already has as many live API tokens as one person may."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} API tokens, the most one person may have at once: "
            "revoke one you no longer use first (GET /api/auth/tokens lists them)."
        )
        self.limit = limit


class RateLimited(DomainError):
    """Too many requests of one kind from one user or address; retry_after is in whole seconds."""

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(f"{reason} Try again in {wait_in_words(retry_after)}.")
        self.reason = reason
        self.retry_after = retry_after


def wait_in_words(seconds: int) -> str:
    """Return a wait as a person says it: "20 seconds", "about 15 minutes", "about 2 hours"."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    return f"about {-(-minutes // 60)} hours"


SEARCH_EMPTY = "Type a word to search for."
SEARCH_TOO_LONG = "A search may be at most {limit} characters long."
SUBJECT_EMPTY = "The subject must not be empty."
SUBJECT_TOO_LONG = "The subject must be at most 200 characters."
BODY_EMPTY = "The body must not be empty."
NUL_NOT_ALLOWED = "The {field} must not contain NUL characters."
NOT_TEXT = "The {field} is not valid Unicode text."
PROTECTED = "This message is protected: only a moderator can edit it."
EDIT_NOT_ALLOWED = "You may not edit messages on this board."
NOT_A_NAMED_EDITOR = "Only the editors this message names may edit it."
EDITORS_NOT_ALLOWED = "Only the author or a moderator can choose who may edit this message."
EDITORS_LOCKED = "A moderator chose who may edit this message: only a moderator can change that."
POST_NOT_ALLOWED = "You may not post to this board."
MOVE_NOT_ALLOWED = "Only a moderator of both boards can move a message between them."
PROTECT_NOT_ALLOWED = "Only a moderator can protect or unprotect a message."
LEASE_EVENTS_NOT_ALLOWED = "Only a moderator can read who held a message's editing lease."
DELETE_NOT_ALLOWED = "Only the author or a moderator can delete this message."
DELETE_PROTECTED = "This message is protected: only a moderator can delete it."
RESTORE_NOT_ALLOWED = "Only the author or a moderator can restore this message."
RESTORE_MODERATED = "A moderator deleted this message: only a moderator can restore it."
BREAK_NOT_ALLOWED = "Only a moderator can break someone's lease; name your lease token to release your own."
LEASE_MAX_HOLD = (
    "Your editing lease reached the longest time one lease may be held: your text is still here; "
    "take the lease again to go on editing."
)
DRAFT_SEQ_INVALID = "seq must be a whole number from 1 to 9223372036854775807."
DRAFT_BASE_INVALID = "base_version must be a version this message has had."
TOKEN_LIFETIME = "expires_in_days must be a whole number of days from 1 to 365."
