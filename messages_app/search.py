"""Full-text search of messages as they are now: the query's rules, the index's writes, the search itself.

The index is the database's own (migration 0014): PostgreSQL ranks with ``ts_rank`` over a
generated tsvector under GIN and cuts snippets with ``ts_headline``; SQLite (the embedded
default) uses an FTS5 table with ``bm25`` and ``snippet``. Both read ``SearchDocument``, the
current version's subject and text, which every write of a message keeps in its own
transaction (``document_put``); ``reindex_search`` repairs whatever drifted.

Results come best first within windows of the newest matches: each request ranks at most
``WINDOW`` matching messages, however many hold the words. A rare word's matches all fit in
one window and are ranked together.
Neither OFFSET nor COUNT is ever asked; the cursor names the window and how many of its rows were shown.
"""

import base64
import binascii
import re
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from messages_app import metrics, permissions
from messages_app.errors import SEARCH_EMPTY, SEARCH_TOO_LONG, InvalidSearch, SearchTooBroad
from messages_app.models import Message, SearchDocument

MAX_QUERY_CHARS = 200
MAX_TERMS = 16
# Matching messages ranked per request: the bound on a common word's cost.
WINDOW = 1000
# Text past this many characters of a body is not indexed: a tsvector holds at most 1 MB, and
# every snippet is cut from the indexed text, so this also bounds what a result page parses.
INDEXED_CHARS = 65_536
SNIPPET_WORDS = 24
# PostgreSQL cuts a snippet from this much of the text: a match further in shows the text's start.
SNIPPET_CHARS = 16_384

# Marks around a match in a snippet, from the Unicode private use area: text a user typed can
# hold "[[" or "<mark>", but not these (document_text takes them out before indexing).
MARK_START, MARK_END = "\ue000", "\ue001"

TABLE = SearchDocument._meta.db_table
FTS = "messages_app_search_fts"
_TERMS = re.compile(r'"([^"]*)"?|([^"\s]+)')
_WORD = re.compile(r"\w+")
# Blank as JSON Schema's (ECMAScript's) \s, which the API's schema describes q with: Python's
# str.isspace() also counts the control characters \x1c-\x1f, which that does not.
_BLANK = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What was asked: words every result must hold, and phrases it must hold in order."""

    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    shortened: bool = False  # words past MAX_TERMS were left out


@dataclass(frozen=True, slots=True)
class SearchPosition:
    """Where a page ends: its window (the matches with ids below ``top``) and how many of them were shown.

    The first page pins its window's top, so posts made while a reader pages on do not push
    rows from one window into the next. Within a window the order is recomputed on each page;
    only an edit or a delete inside it between two pages can move a row past the reader.
    """

    top: int
    shown: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: int
    subject: str
    board_id: int
    board_slug: str
    board_name: str
    author_name: str
    updated_at: datetime
    snippet: str  # the text around the matches, each between MARK_START and MARK_END

    @property
    def pk(self) -> int:
        return self.id

    def snippet_marked(self, start: str = "[[", end: str = "]]") -> str:
        return self.snippet.replace(MARK_START, start).replace(MARK_END, end)

    def snippet_html(self) -> SafeString:
        # Escaped first, marks after: nothing of the message's text can become markup.
        return mark_safe(escape(self.snippet).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[SearchHit]
    next_position: SearchPosition | None


def query_parse(text: str) -> SearchQuery:
    """Return the words and "quoted phrases" of a query, or raise InvalidSearch saying what is wrong."""
    if not isinstance(text, str) or _BLANK.fullmatch(text):
        raise InvalidSearch(SEARCH_EMPTY)
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidSearch(SEARCH_TOO_LONG.format(limit=MAX_QUERY_CHARS))
    # Composed, as typed text mostly is: a decomposed "é" would split a word in two.
    text = unicodedata.normalize("NFC", text)
    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    for quoted, bare in _TERMS.findall(text):
        found = tuple(word.lower() for word in _WORD.findall(quoted if quoted else bare))
        if quoted and len(found) > 1:
            phrases.append(found)
        else:
            words.extend(found)
    # Punctuation alone is a query that matches nothing, not an empty one.
    words = list(dict.fromkeys(words))
    # Each term costs the engine a pass over every message holding it (to weigh it in the
    # ranking), so only the first MAX_TERMS count: the cost of a search stays bounded.
    kept_words, kept_phrases, budget = [], [], MAX_TERMS
    for phrase in phrases:
        if len(phrase) <= budget:
            kept_phrases.append(phrase)
            budget -= len(phrase)
    kept_words = words[:budget]
    shortened = len(kept_words) < len(words) or len(kept_phrases) < len(phrases)
    words, phrases = kept_words, kept_phrases
    return SearchQuery(words=tuple(words), phrases=tuple(phrases), shortened=shortened)


def document_text(text: str) -> str:
    """Return the part of a subject or body the index holds, without the snippet marks' characters."""
    return text[:INDEXED_CHARS].replace(MARK_START, " ").replace(MARK_END, " ")


# An equal version may write again (the same text, or one repaired under the same version);
# an older one never overwrites a newer.
UPSERT_SQL = (
    f"INSERT INTO {TABLE} (message_id, version, sha256, subject, body) VALUES (%s, %s, %s, %s, %s) "
    f"ON CONFLICT (message_id) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256, "
    f"subject = excluded.subject, body = excluded.body WHERE {TABLE}.version <= excluded.version"
)


def document_put(*, message_id: int, version: int, subject: str, body: str, sha256: str) -> None:
    """Index a message's version; run it inside the transaction that publishes the version.

    A version older than the one indexed changes nothing, so a reindex that read a message just
    before a save cannot put the older text back over the save's.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            UPSERT_SQL,
            [message_id, version, sha256, document_text(subject), document_text(body)],
        )


def documents_put(rows: list[tuple[int, int, str, str, str]]) -> None:
    """Index many messages' versions at once: (message_id, version, sha256, subject, body) each; bulk loads use it."""
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            UPSERT_SQL,
            [
                (message_id, version, sha256, document_text(subject), document_text(body))
                for message_id, version, sha256, subject, body in rows
            ],
        )


def messages_search(*, viewer, query: SearchQuery, after: SearchPosition | None = None, limit: int = 20) -> SearchPage:
    """Return the viewer's readable, undeleted messages matching every term, best first, after ``after``."""
    found = permissions.access(viewer)
    readable = found.readable
    if not readable:
        return SearchPage(items=[], next_position=None)
    every = permissions.every_board(found.generation)
    boards = () if len(readable) == len(every) else readable
    if not query.words and not query.phrases:
        return SearchPage(items=[], next_position=None)
    match = _Match.of(query)
    try:
        with _time_bounded():
            page = _search(match, viewer_access=found, boards=boards, after=after, limit=limit)
    except SearchTooBroad:
        metrics.SEARCHES.labels("too_broad").inc()
        raise
    metrics.SEARCHES.labels("ok").inc()
    return page


def _search(match: "_Match", *, viewer_access, boards: tuple[int, ...], after, limit: int) -> SearchPage:
    found = viewer_access
    readable = found.readable
    top, shown = (after.top, after.shown) if after else (None, 0)
    chosen: list[tuple[int, float]] = []
    next_position = None
    # At most two windows a page: a page that ends its window starts the next one.
    for _window in range(2):
        candidates = match.window(top=top, boards=boards)
        if top is None and candidates:
            top = max(row[0] for row in candidates) + 1
        ranked = sorted(candidates, key=lambda row: (-row[1], -row[0]))[shown:]
        wanted = limit - len(chosen)
        chosen.extend(ranked[:wanted])
        if len(ranked) > wanted:
            next_position = SearchPosition(top=top, shown=shown + wanted)
            break
        if len(candidates) < WINDOW:
            next_position = None  # the last window: nothing older matches
            break
        top, shown = min(row[0] for row in candidates), 0
        next_position = SearchPosition(top=top)
        if len(chosen) == limit:
            break
    if not chosen:
        return SearchPage(items=[], next_position=next_position)
    hits = match.hits([message_id for message_id, _score in chosen], generation=found.generation)
    # A board made private after the grants were read is in no list of them: its rows go here.
    allowed = set(readable)
    items = [hits[message_id] for message_id, _score in chosen if message_id in hits]
    items = [hit for hit in items if hit.board_id in allowed]
    return SearchPage(items=items, next_position=next_position)


@contextmanager
def _time_bounded() -> Iterator[None]:
    """Stop the search's statements after TIME_LIMIT_MS and raise SearchTooBroad."""
    limit = settings.MESSAGEBOARD_SEARCH_TIME_LIMIT_MS
    nested = connection.in_atomic_block
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic(), connection.cursor() as cursor:
                # Planned for its own words each time (plan_cache_mode): a plan cached for a rare
                # word reads a common one through GIN, one for a common word scans every row for a
                # rare one. Both settings end with the transaction; inside a caller's own, the
                # values before are put back.
                cursor.execute(
                    "SELECT current_setting('statement_timeout'), current_setting('plan_cache_mode'), "
                    "set_config('statement_timeout', %s, true), "
                    "set_config('plan_cache_mode', 'force_custom_plan', true)",
                    [str(int(limit))],
                )
                timeout_before, plan_cache_before = cursor.fetchone()[:2]
                yield
                if nested:
                    cursor.execute(
                        "SELECT set_config('statement_timeout', %s, true), set_config('plan_cache_mode', %s, true)",
                        [timeout_before, plan_cache_before],
                    )
        else:
            deadline = time.monotonic() + limit / 1000
            connection.ensure_connection()
            # SQLite asks the handler every few thousand steps of its program; non-zero stops it.
            connection.connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            try:
                yield
            finally:
                connection.connection.set_progress_handler(None, 0)
    except OperationalError as error:
        if not _interrupted(error):
            raise
        raise SearchTooBroad() from None


def _interrupted(error: OperationalError) -> bool:
    text = str(error).lower()
    return "interrupted" in text or "statement timeout" in text or "canceling statement" in text


class _Match:
    """One query's SQL on this database: the window of matches, then the page's rows and snippets.

    Each database's subclass fills in its statement parts: what matches (``match_sql``), how
    a match scores (``score_sql``, higher better) and its snippet, each with its parameters.
    """

    id_column = from_sql = ""

    def __init__(self, *, match: tuple[str, list], score: tuple[str, list], snippet: tuple[str, list]) -> None:
        self.match_sql, self.match_params = match
        self.score_sql, self.score_params = score
        self.snippet_sql, self.snippet_params = snippet

    @classmethod
    def of(cls, query: SearchQuery) -> "_Match":
        return _PostgresMatch(query) if connection.vendor == "postgresql" else _SqliteMatch(query)

    def window(self, *, top: int | None, boards: tuple[int, ...]) -> list[tuple[int, float]]:
        """Return (message id, score) of the newest WINDOW matches below ``top``, higher scores better."""
        where, params = self.match_sql, list(self.match_params)
        if boards:
            where += f" AND m.board_id IN ({', '.join(['%s'] * len(boards))})"
            params += boards
        if top is not None:
            where += f" AND {self.id_column} < %s"
            params.append(top)
        sql = (
            f"SELECT {self.id_column}, {self.score_sql} FROM {self.from_sql} "
            f"JOIN {Message._meta.db_table} m ON m.id = {self.id_column} "
            f"WHERE {where} AND m.deleted_at IS NULL ORDER BY {self.id_column} DESC LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self.score_params, *params, WINDOW])
            return [(message_id, float(score)) for message_id, score in cursor.fetchall()]

    def hits(self, message_ids: list[int], *, generation: int) -> dict[int, SearchHit]:
        users = get_user_model()._meta.db_table
        username = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).column
        names = ", ".join(["%s"] * len(message_ids))
        sql = (
            f"SELECT m.id, m.subject, m.board_id, author.{username}, m.updated_at, {self.snippet_sql} "
            f"FROM {self.from_sql} JOIN {Message._meta.db_table} m ON m.id = {self.id_column} "
            f"JOIN {users} author ON author.id = m.author_id "
            f"WHERE {self.match_sql} AND m.deleted_at IS NULL AND {self.id_column} IN ({names})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self.snippet_params, *self.match_params, *message_ids])
            rows = cursor.fetchall()
        hits = {}
        for message_id, subject, board_id, author, updated_at, snippet in rows:
            slug, name = permissions.board_label(board_id, generation=generation)
            hits[message_id] = SearchHit(
                id=message_id,
                subject=subject,
                board_id=board_id,
                board_slug=slug,
                board_name=name,
                author_name=author,
                updated_at=_aware(updated_at),
                snippet=" ".join((snippet or "").split()),
            )
        return hits


class _SqliteMatch(_Match):
    id_column = f"{FTS}.rowid"
    from_sql = FTS

    def __init__(self, query: SearchQuery) -> None:
        # Every term in double quotes: FTS5 reads a quoted string as a phrase of words and
        # nothing in it as syntax (the words hold only letters, digits and underscores).
        terms = [f'"{word}"' for word in query.words]
        terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
        super().__init__(
            match=(f"{FTS} MATCH %s", [" AND ".join(terms)]),
            # bm25 is lower for better matches; a subject's words weigh as four of the body's.
            score=(f"-bm25({FTS}, 4.0, 1.0)", []),
            snippet=(f"snippet({FTS}, 1, char(57344), char(57345), ' … ', {SNIPPET_WORDS})", []),
        )


class _PostgresMatch(_Match):
    id_column = "s.message_id"
    from_sql = f"{TABLE} s"

    def __init__(self, query: SearchQuery) -> None:
        # Each term through PostgreSQL's own parser (stemmed, stop words dropped), all ANDed.
        # Written inline, not joined from a subquery: constant, the planner can estimate how
        # many rows a word matches and choose between the GIN index and the newest-first scan.
        parts = ["plainto_tsquery('english', %s)"] * len(query.words)
        parts += ["phraseto_tsquery('english', %s)"] * len(query.phrases)
        tsquery = "(" + " && ".join(parts) + ")"
        params = [*query.words, *(" ".join(phrase) for phrase in query.phrases)]
        # Marks each word of the query: ts_headline with a phrase query cost four times as much.
        # Cut from the text's first SNIPPET_CHARS: its cost grows with the text it parses.
        every_word = " ".join([*query.words, *(word for phrase in query.phrases for word in phrase)])
        headline = (
            f"ts_headline('english', left(s.body, {SNIPPET_CHARS}), plainto_tsquery('english', %s), "
            f"'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_WORDS + 11}, MinWords=15, "
            'ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "\')'
        )
        super().__init__(
            match=(f"s.vector @@ {tsquery}", params),
            score=(f"ts_rank(s.vector, {tsquery}, 1)", params),
            snippet=(headline, [every_word]),
        )


def _aware(value: datetime | str) -> datetime:
    # SQLite hands a plain cursor's datetimes back as text, in UTC. (selectors._aware
    # says the same, but search is below selectors: protocol_sql indexes every save through it.)
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_CURSOR = re.compile(r"s:([1-9][0-9]{0,18}):([0-9]{1,7})")


def position_encode(position: SearchPosition | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"s:{position.top}:{position.shown}".encode()).decode().rstrip("=")


def position_decode(cursor: str | None) -> SearchPosition | None:
    """Return the position a cursor names, None for none; raise ValueError for one this board never made."""
    if not cursor:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,60}", cursor):
        raise ValueError(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(cursor) from None
    found = _CURSOR.fullmatch(raw)
    if found is None or int(found[1]) > 2**63 - 1:
        raise ValueError(raw)
    return SearchPosition(top=int(found[1]), shown=int(found[2]))
