"""What goes in and out: the request and response schemas, and the OpenAPI fragments ninja cannot infer."""

from datetime import datetime

from ninja import Field, Schema

from messages_app import services, tokens


class ErrorOut(Schema):
    error: str
    detail: str


class InvalidOut(ErrorOut):
    fields: dict[str, str] | None = Field(None, description="Each field at fault, with what is wrong with it.")


class LeaseOut(Schema):
    holder: str
    expires_at: datetime


class LockedOut(ErrorOut):
    lease: LeaseOut


class MessageSummaryOut(Schema):
    id: int
    board: str = Field(description="The slug of the message's board.")
    subject: str
    version: int
    author: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    size: int = Field(description="Bytes of UTF-8 in the body.")
    sha256: str
    protected: bool
    lease: LeaseOut | None


class MessageOut(MessageSummaryOut):
    body: str


class MessageReadOut(MessageOut):
    # Only with ?render=html: the body as sanitised HTML (messages_app/markup.py).
    html: str | None = None


class MessagePageOut(Schema):
    items: list[MessageSummaryOut]
    next_cursor: str | None


class SearchHitOut(Schema):
    id: int
    subject: str
    board: str = Field(description="The slug of the message's board.")
    author: str
    updated_at: datetime
    snippet: str = Field(description="Text of the message around its matches, each match between [[ and ]].")


class SearchPageOut(Schema):
    items: list[SearchHitOut]
    next_cursor: str | None


class MessageIn(Schema):
    subject: str = Field(min_length=1, max_length=services.SUBJECT_MAX_LENGTH)
    body: str = Field(min_length=1)
    board: str | None = Field(
        None, min_length=1, max_length=50, description="A board's slug; left out: the default board."
    )


class BoardOut(Schema):
    slug: str
    name: str
    description: str
    messages: int = Field(description="Visible messages on the board (a kept counter).")
    may_post: bool


class BoardListOut(Schema):
    items: list[BoardOut]


class EditorsIO(Schema):
    users: list[str] = Field(max_length=50, description="Usernames who may edit; both lists empty: no restriction.")
    groups: list[str] = Field(max_length=50, description="Group names whose members may edit.")


class DraftIn(Schema):
    subject: str = Field(
        None,
        min_length=1,
        max_length=services.SUBJECT_MAX_LENGTH,
        description="Left out: the draft keeps its subject (a new draft takes the message's).",
    )
    body: str = Field(min_length=1)
    base_version: int = Field(ge=1, le=2**31 - 1, description="The version the text started from.")
    seq: int = Field(
        ge=1, le=2**63 - 1, description="Above the stored draft's seq, or 409 draft_out_of_sequence: newest wins."
    )


class DraftOut(Schema):
    subject: str
    body: str
    base_version: int
    seq: int
    updated_at: datetime


class MergeIn(Schema):
    base_version: int = Field(ge=1, le=2**31 - 1, description="The version the caller's text started from.")
    subject: str = Field(
        None, min_length=1, max_length=services.SUBJECT_MAX_LENGTH, description="Left out: the current subject."
    )
    body: str = Field(min_length=1)


class MergedTextOut(Schema):
    subject: str
    body: str


class ConflictOut(Schema):
    field: str = Field(description="subject or body")
    base: str
    mine: str
    theirs: str


class MergeOut(Schema):
    version: int = Field(description="The current version: send it as If-Match when saving the merged text.")
    merged: MergedTextOut = Field(description="The merged text; at each conflict, the caller's own text (mine).")
    conflicts: list[ConflictOut]


class MessageEditIn(Schema):
    subject: str = Field(
        None, min_length=1, max_length=services.SUBJECT_MAX_LENGTH, description="Left out: the subject stays."
    )
    body: str = Field(min_length=1)


class RevisionOut(Schema):
    version: int
    author: str
    created_at: datetime
    size: int
    sha256: str
    subject: str


class RevisionDetailOut(RevisionOut):
    body: str


class RevisionPageOut(Schema):
    items: list[RevisionOut]
    next_cursor: str | None


class LeaseGrantOut(Schema):
    token: str
    holder: str
    expires_at: datetime
    ttl_seconds: int


class LeaseEventOut(Schema):
    event: str = Field(description="acquired, released, expired, replaced or broken.")
    user: str = Field(description="The holder the event is about.")
    by: str | None = Field(description="The moderator who broke the lease; null for every other event.")
    at: datetime


class LeaseEventPageOut(Schema):
    items: list[LeaseEventOut]
    next_cursor: str | None


class CredentialsIn(Schema):
    # PostgreSQL refuses NUL in a query string, so such a username must not reach the look-up.
    username: str = Field(pattern=r"^[^\x00]*$")
    password: str


class TokenRequestIn(CredentialsIn):
    expires_in_days: int = Field(
        tokens.TOKEN_DAYS_DEFAULT,
        ge=tokens.TOKEN_DAYS_MIN,
        le=tokens.TOKEN_DAYS_MAX,
        strict=True,
        description="Days until the token stops signing in.",
    )


class TokenOut(Schema):
    token: str = Field(description="The secret: shown this once, never stored.")
    id: int
    expires_at: datetime


class TokenInfoOut(Schema):
    id: int
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute; null if never used.")
    expires_at: datetime


class TokenListOut(Schema):
    items: list[TokenInfoOut]


# OpenAPI fragments: headers and links ninja cannot infer from the view signatures.
ETAG = {"ETag": {"description": 'The message\'s version in quotes, like "3".', "schema": {"type": "string"}}}
MESSAGE_LINKS = {
    name: {"operationId": operation, "parameters": {"message_id": "$response.body#/id", **more}}
    for name, operation, more in [
        ("read", "message_get", {}),
        ("readBody", "message_body", {}),
        ("edit", "message_edit_save", {"header.If-Match": "$response.header.ETag"}),
        ("delete", "message_delete", {}),
        ("restore", "message_restore", {}),
        ("takeLease", "lease_acquire", {}),
        ("history", "revision_list", {}),
        ("oneVersion", "revision_get", {"version": "$response.body#/version"}),
    ]
}
LEASE_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"message_id": "$request.path.message_id", "header.Lease-Token": "$response.body#/token"},
    }
    for name, operation in [("renew", "lease_renew"), ("release", "lease_release")]
}
LEASE_LINKS["save"] = {
    "operationId": "message_edit_save",
    "parameters": {"message_id": "$request.path.message_id", "header.Lease-Token": "$response.body#/token"},
}

READ_ERRORS = {404: ErrorOut, 410: ErrorOut, 422: InvalidOut}
WRITE_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 410: ErrorOut, 422: InvalidOut}
BODY_ERRORS = {400: InvalidOut, 413: ErrorOut}
