"""Seeding a board with realistic messages, in bulk, for trying and measuring it."""

import random as random_module

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from messages_app import boards, bodies, pagecache, search
from messages_app.models import Board, BoardGrant, Message, Revision
from messages_app.operations.common import Progress, analyze_loaded, ensure_users, no_progress, reset_sequences

_SEED_VOCABULARY = """
the board message edit lease version history save body file storage people read write reply thanks
question answer because when where which while about after again against between through during
before under over above below more most other some such only own same than too very can will just
should now meeting project release draft review change idea plan update note list team
"""
WORDS = _SEED_VOCABULARY.split()


def _seed_corpus(random, size: int = 1 << 20) -> str:
    # Words with a full stop after about one in twelve, and a line break after half of those.
    endings = random.choices(["", ".", ".\n"], weights=[92, 4, 4], k=size // 6)
    words = random.choices(WORDS, k=size // 6)
    # One word in a hundred is one of a thousand rarer ones, as names and terms are in real
    # text: search has rare words to find (benchmarks/search.py). Drawn from a generator of
    # their own, so the rest of the seed stays as it was.
    rare = random_module.Random(len(words))
    for at in rare.sample(range(len(words)), k=len(words) // 100):
        words[at] = RARE_WORDS[rare.randrange(len(RARE_WORDS))]
    return " ".join(word + ending for word, ending in zip(words, endings, strict=True))


def _rare_words(count: int = 1000) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ru",
        "sen",
        "tor",
        "vel",
        "an",
        "dri",
        "pel",
        "gos",
        "un",
        "brim",
        "fal",
        "zet",
        "wo",
    ]
    picker = random_module.Random(16)
    return sorted({"".join(picker.choices(syllables, k=3)) for _ in range(count * 2)})[:count]


RARE_WORDS = _rare_words()


def _seed_text(random, corpus: str, size: int) -> str:
    # A slice of a pre-made text: picking words one by one cost more than writing the files.
    size = min(size, len(corpus) // 2)
    start = random.randrange(len(corpus) - size)
    return corpus[start : start + size].strip() + "\n"


def _seed_edit(random, corpus: str, text: str) -> str:
    """Return ``text`` edited as people edit: a few words changed, a sentence added or cut.

    A version is an edit of the one before, never a new text: packing (pack_revisions) stores
    later versions as deltas, and a seed of unrelated versions would measure something no
    board holds. One edit in ten leaves the body as it was (the subject alone changed).
    """
    if random.random() < 0.1:
        return text
    words = text.rstrip("\n").split(" ")
    for _ in range(random.randint(1, 3)):
        at = random.randrange(len(words))
        choice = random.random()
        if choice < 0.5:
            words[at : at + random.randint(1, 4)] = random.choices(WORDS, k=random.randint(1, 4))
        elif choice < 0.8:
            words[at:at] = _seed_text(random, corpus, random.randint(30, 120)).split()
        elif len(words) > 8:
            del words[at : at + random.randint(1, 8)]
    return " ".join(words) + "\n"


def messages_seed(
    *,
    count: int,
    revisions: int = 1,
    users: int = 10,
    seed: int = 0,
    board_count: int = 0,
    progress: Progress = no_progress,
) -> int:
    """Bulk-create ``count`` realistic messages with ``revisions`` versions each; return how many.

    Each version after the first is an edit of the one before (_seed_edit).

    Bodies are real files written through the file handler, durable all at once at the end
    (one sync instead of an fsync per file); rows go in with bulk inserts, a batch per
    transaction. With ``board_count`` the messages are spread over that many boards
    (seed_boards); without, they go to the default board.
    """
    random = random_module.Random(seed)
    corpus = _seed_corpus(random)
    names = [f"seed-user-{n}" for n in range(1, users + 1)]
    user_ids: dict[str, int] = {}
    ensure_users(set(names), user_ids)
    author_ids = [user_ids[name] for name in names]
    board_ids = seed_boards(board_count, member_ids=author_ids[::2]) if board_count else [boards.default_board().pk]
    created = 0
    batch_size = 1000
    with bodies.batched_durability():
        while created < count:
            size = min(batch_size, count - created)
            with transaction.atomic():
                first_id = _reserve_message_ids()
                message_rows, revision_rows, documents = [], [], []
                added: dict[int, tuple[int, int]] = {}
                for message_id in range(first_id, first_id + size):
                    now = connection.ops.adapt_datetimefield_value(timezone.now())
                    author_id = random.choice(author_ids)
                    board_id = random.choice(board_ids)
                    subject = " ".join(random.choices(WORDS, k=random.randint(2, 8))).capitalize()
                    editor_id = author_id
                    text = _seed_text(random, corpus, int(random.lognormvariate(6.5, 1.0)) + 20)
                    for version in range(1, revisions + 1):
                        if version > 1:
                            text = _seed_edit(random, corpus, text)
                        stored = bodies.body_save(message_id=message_id, version=version, data=text.encode())
                        if version > 1:
                            editor_id = random.choice(author_ids)
                        revision_rows.append(
                            (message_id, version, subject, stored.key, stored.size, stored.sha256, editor_id, now)
                        )
                    message_rows.append(
                        (
                            *(message_id, subject, stored.key, revisions, stored.size, stored.sha256),
                            *(author_id, now, now, editor_id, False, board_id, False, False),
                        )
                    )
                    documents.append((message_id, revisions, stored.sha256, subject, text))
                    added[board_id] = (added.get(board_id, (0, 0))[0] + 1, message_id)
                # Rows as tuples in one executemany per table: bulk_create built and compiled
                # model instances at three times the cost of writing the files.
                _insert_rows(Message, SEED_MESSAGE_FIELDS, message_rows)
                _insert_rows(Revision, SEED_REVISION_FIELDS, revision_rows)
                search.documents_put(documents)
                boards.counters_bulk_added(added)
                pagecache.list_changed()
            created += size
            progress(size)
    reset_sequences()
    analyze_loaded()
    return created


SEED_MESSAGE_FIELDS = (
    "id",
    "subject",
    "body_key",
    "version",
    "size",
    "sha256",
    "author",
    "created_at",
    "updated_at",
    "updated_by",
    "protected",
    "board",
    "editors_restricted",
    "editors_locked",
)
SEED_REVISION_FIELDS = ("message", "version", "subject", "body_key", "size", "sha256", "author", "created_at")


SEED_TEAM = "seed-team"


def seed_boards(count: int, *, member_ids: list[int]) -> list[int]:
    """Return the ids of ``count`` seed boards, making those missing: every fifth private to a team.

    The team (a group of every other seed user) may edit the private boards; the others are
    open as the default board is.
    """
    from django.contrib.auth.models import Group

    team, _ = Group.objects.get_or_create(name=SEED_TEAM)
    team.user_set.add(*member_ids)
    ids = []
    for number in range(1, count + 1):
        slug = f"seed-board-{number:02d}"
        board = Board.objects.filter(slug=slug).first()
        if board is None:
            private = number % 5 == 0
            board = boards.board_create(
                slug=slug, name=f"Seed board {number:02d}" + (" (team)" if private else ""), private=private
            )
            if private:
                BoardGrant.objects.create(board=board, audience=BoardGrant.Audience.GROUP, group=team, level=3)
        ids.append(board.pk)
    boards.grants_changed()
    return ids


def _insert_rows(model: type[Model], fields: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows of ready database values (datetimes already adapted) with one executemany."""
    columns = ", ".join(model._meta.get_field(name).column for name in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({placeholders})", rows)


def _reserve_message_ids() -> int:
    # Inside the batch's transaction: SQLite's IMMEDIATE transactions and this lock on
    # PostgreSQL keep any other writer from taking ids until the batch commits.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Message._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    last = Message.objects.order_by("-id").values_list("id", flat=True).first()
    return (last or 0) + 1
