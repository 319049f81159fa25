from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MessageQuerySet(models.QuerySet):
    def visible(self) -> "MessageQuerySet":
        return self.filter(deleted_at__isnull=True)


class Board(models.Model):
    """A place messages are posted to, with who may read, post, edit and moderate there (BoardGrant).

    ``message_count`` and ``newest_message`` are kept by the services that post, delete, restore
    and move messages, in the same transaction: the boards page never counts.
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=1000, blank=True)
    message_count = models.PositiveBigIntegerField(default=0)
    newest_message = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, related_name="+", null=True, blank=True, db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BoardGrant(models.Model):
    """One audience's level on one board; the highest level among a user's audiences applies."""

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "everyone (visitors included)"
        MEMBERS = "members", "members (anyone signed in)"
        GROUP = "group", "a group"

    class Level(models.IntegerChoices):
        # Each level includes the ones below it (permissions.py).
        READ = 1, "read"
        POST = 2, "post"
        EDIT = 3, "edit"
        MODERATE = 4, "moderate"

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="grants")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "audience"], condition=Q(group__isnull=True), name="boardgrant_one_per_audience"
            ),
            models.UniqueConstraint(
                fields=["board", "group"], condition=Q(group__isnull=False), name="boardgrant_one_per_group"
            ),
            models.CheckConstraint(
                condition=(Q(audience="group") & Q(group__isnull=False))
                | (Q(audience__in=["everyone", "members"]) & Q(group__isnull=True)),
                name="boardgrant_group_only_for_groups",
            ),
        ]

    def __str__(self) -> str:
        who = self.group.name if self.group_id else self.audience
        return f"{who}: {self.get_level_display()} on {self.board}"


class AccessGeneration(models.Model):
    """One row holding a number that moves (to a new random one) whenever who may read or write a board changes.

    Every process keeps the boards each set of groups may reach under this number
    (permissions.py): a grant changed through any process reaches every process's next request.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"access generation {self.value}"


class Message(models.Model):
    board = models.ForeignKey(Board, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=200)
    # The storage key of the current version's body: only bodies.py turns a key into bytes, so
    # nothing can bypass the file handler and its cache. Written only by the save protocol.
    body_key = models.CharField(max_length=255, db_column="body")
    version = models.PositiveIntegerField(default=1)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    protected = models.BooleanField(default=False)
    # Set when the author or a moderator named who may edit (MessageEditor): a plain message
    # is answered without looking the names up.
    editors_restricted = models.BooleanField(default=False)
    # Set when a moderator named the editors of someone else's message: then only a moderator
    # changes them again (nothing a member does undoes a moderator).
    editors_locked = models.BooleanField(default=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        permissions = [("moderate_message", "Can moderate any message")]
        indexes = [
            # The list page walks visible messages newest first from a keyset cursor.
            models.Index(fields=["-id"], condition=Q(deleted_at__isnull=True), name="message_visible_newest"),
            # One board's list, newest first, and a board's newest message after a delete.
            models.Index(fields=["board", "-id"], condition=Q(deleted_at__isnull=True), name="message_board_newest"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="message_deleted_at"),
            # The admin's "deleted" filter, newest first: without it a board with few deleted
            # messages is scanned whole to fill one page (benchmarks/admin.py).
            models.Index(fields=["-id"], condition=Q(deleted_at__isnull=False), name="message_deleted_newest"),
            # The admin's "protected" filter walks the few protected messages newest first.
            models.Index(fields=["-id"], condition=Q(protected=True), name="message_protected_newest"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class MessageEditor(models.Model):
    """A user or a group named to edit a restricted message (Message.editors_restricted)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+", null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="messageeditor_user_once"),
            models.UniqueConstraint(fields=["message", "group"], name="messageeditor_group_once"),
            models.CheckConstraint(
                condition=Q(user__isnull=True, group__isnull=False) | Q(user__isnull=False, group__isnull=True),
                name="messageeditor_user_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"editor of #{self.message_id}"


class Pack(models.Model):
    """A file of old versions, compressed and delta-encoded (packs.py); immutable like every key.

    pack_revisions writes it, and retires it once repacked or once no revision points into it.
    """

    key = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Versions written into it; purge_deleted leaves fewer pointing into it, and repacking reclaims the rest.
    versions = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class Revision(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=200)
    # The version's own name, and the key of its file until it is packed: the body cache keys
    # the text by it, and a packed version keeps it (the text behind a name never changes).
    body_key = models.CharField(max_length=255, db_column="body")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    # Set together, in one transaction, once the pack holding the version is durable.
    pack = models.ForeignKey(
        Pack, on_delete=models.PROTECT, related_name="revisions", null=True, blank=True, db_index=False
    )
    pack_offset = models.PositiveBigIntegerField(null=True, blank=True)
    pack_length = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "version"], name="revision_one_per_version")]
        indexes = [
            # pack_revisions walks the versions still in files of their own, not the millions packed.
            models.Index(fields=["message", "version"], condition=Q(pack__isnull=True), name="revision_loose"),
            # Versions by pack (repacking, verify_storage). Partial, so that no planner reads
            # "pack IS NULL" through it and sorts every loose version: that is the index above.
            models.Index(fields=["pack"], condition=Q(pack__isnull=False), name="revision_packed"),
            # The dashboard's week of edits (dashboard.py) reads that week's edits from this index
            # alone: not every version, not the week's new posts, not a table row per edit.
            models.Index(fields=["created_at", "message"], condition=Q(version__gt=1), name="revision_edited"),
        ]

    def __str__(self) -> str:
        return f"#{self.message_id} v{self.version}"


class EditLease(models.Model):
    # Unique: the database, not the application, guarantees one lease row per message.
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="lease")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    # Set by the statement that grants the lease over an existing row (to that row's holder),
    # so the grant itself tells whom it replaced, without a read before the write.
    previous_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True, db_index=False
    )

    def __str__(self) -> str:
        return f"lease on #{self.message_id}"


class LeaseWaiter(models.Model):
    """A person waiting on the edit page for a message's lease, in the order they opened it.

    When the lease frees, the first waiter still there (their page asked within
    MESSAGEBOARD_QUEUE_STALE_SECONDS) has it reserved for MESSAGEBOARD_QUEUE_RESERVE_SECONDS from
    ``turn_at``, the moment their page learned it was their turn; the grant statement refuses
    everyone else meanwhile (leases.py, protocol_sql.grant). Times are the database's clock.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    turn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="leasewaiter_once_per_message")]
        # A message's waiters in order (the grant asks who is ahead; the page tells the place).
        indexes = [models.Index(fields=["message", "id"], name="leasewaiter_in_order")]

    def __str__(self) -> str:
        return f"user {self.user_id} waiting for #{self.message_id}"


class LeaseEvent(models.Model):
    """One transition of a message's editing lease, for "who held message 123 last Tuesday"."""

    class Kind(models.TextChoices):
        ACQUIRED = "acquired", "acquired"
        RELEASED = "released", "released"
        # Found expired when someone else took the lease (recorded then, not when it ran out).
        EXPIRED = "expired", "expired"
        # Taken again by its holder (another tab): the old token died. One row, not also "acquired".
        REPLACED = "replaced", "replaced"
        BROKEN = "broken", "broken"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="lease_events", db_index=False)
    event = models.CharField(max_length=16, choices=Kind.choices)
    # The holder the event is about.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The moderator who broke the lease; empty for every other event.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True, db_index=False
    )
    # The database's clock, as for lease expiry.
    at = models.DateTimeField()

    class Meta:
        indexes = [
            # A message's events newest first (the API, and the admin's search by message id).
            models.Index(fields=["message", "-id"], name="leaseevent_message_newest"),
            # The admin's event filter, newest first.
            models.Index(fields=["event", "-id"], name="leaseevent_event_newest"),
            # Every lease grant asks whether a moderator broke this user's lease lately; breaks are rare.
            models.Index(
                fields=["message", "user", "at"], condition=models.Q(event="broken"), name="leaseevent_broken_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.message_id} {self.event}"


class TokenQuerySet(models.QuerySet):
    def live(self) -> "TokenQuerySet":
        """Keep the tokens that still sign in: neither revoked nor expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class Token(models.Model):
    """An API key. Only its SHA-256 is stored: a copy of the database holds no usable key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # The key's first characters, so a person can tell their tokens apart without the secret.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = TokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… (user {self.user_id})"


class Draft(models.Model):
    """A user's unsaved text of one message, kept on the server until it is saved or discarded.

    The text is a file (bodies.draft_save), never a column. ``seq`` is the writer's sequence
    number: a write with a number no higher than the stored one is refused, so a request that
    arrives late never overwrites newer text. Saving or discarding the text keeps the row with
    ``consumed_at`` set and its number, so a heartbeat sent before the save cannot bring the
    text back; purge_drafts removes rows nobody touched for a while.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=200)
    body_key = models.CharField(max_length=255, db_column="body")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    base_version = models.PositiveIntegerField()
    seq = models.BigIntegerField()
    updated_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "message"], name="draft_one_per_user_message")]
        indexes = [
            # purge_drafts walks the oldest first; the per-user cap counts a user's live drafts.
            models.Index(fields=["updated_at"], name="draft_updated_at"),
            models.Index(fields=["user"], condition=Q(consumed_at__isnull=True), name="draft_live_by_user"),
        ]

    def __str__(self) -> str:
        return f"draft of #{self.message_id} by user {self.user_id}"


class ListGeneration(models.Model):
    """One row holding a number that moves whenever what the message list shows changes.

    The list pages are cached per process under this number (messages_app/pagecache.py): a
    change in any process moves it for all. PostgreSQL keeps the number in a sequence instead
    (created by migration 0009), which many writers move at once without waiting on one row.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"list generation {self.value}"


class SearchDocument(models.Model):
    """A message's current subject and text as the full-text index reads them (search.py).

    The index itself is the database's: on PostgreSQL a generated ``vector`` column (tsvector)
    under a GIN index, on SQLite an FTS5 table kept in step by triggers (migration 0014). The
    row carries the version it holds, so a late writer never puts an older text back.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.PositiveIntegerField()
    # The sha256 of the body the row was made from, as the message records it: reindex_search
    # finds a text that changed under the same version (a body repaired by verify_storage).
    sha256 = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    body = models.TextField()

    def __str__(self) -> str:
        return f"search text of #{self.message_id} v{self.version}"


class StorageCounter(models.Model):
    """Part of what the body storage holds: files and their bytes, as the database's own rows name them.

    Triggers on Revision, Pack and Draft (migration 0016) move these rows in the transaction of
    every change that adds or removes a file, so no write path has to remember them and nothing
    ever lists the storage to count. Only the sum over the rows means anything (a shard may go
    below zero): several rows let PostgreSQL's concurrent writers each take a free one
    instead of queueing on a single row. ``board_stats --recount`` rebuilds them from the tables.
    """

    SHARDS = 16

    shard = models.PositiveSmallIntegerField(primary_key=True)
    files = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"storage shard {self.shard}: {self.files} files, {self.bytes} bytes"
