"""The work benchmarks/search.py times, run inside a process set up on one database (see there)."""

import random
import statistics
import time
from collections import Counter

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from benchmarks.load import edit_form
from messages_app import boards, editing, search, services
from messages_app.models import Message
from messages_app.operations import seed
from messages_app.operations.common import analyze_loaded, ensure_users, reset_sequences

BATCH = 5000
EDIT_ROUND = 40


def run(*, size: int, runs: int, edit_rounds: int = 9) -> dict:
    generator = random.Random(0)
    corpus = seed._seed_corpus(generator)
    started = time.perf_counter()
    load(size, generator, corpus)
    load_seconds = time.perf_counter() - started
    users: dict[str, int] = {}
    ensure_users({"bench-reader"}, users)
    reader = get_user_model().objects.get(pk=users["bench-reader"])
    queries = [(label, text, False) for label, text in chosen_queries(corpus)]
    queries.append(("common word, second page", queries[0][1], True))
    results = []
    for label, text, second_page in queries:
        results.append({"label": label, **timed(reader, text, runs, second_page=second_page)})
    return {"load_seconds": load_seconds, "queries": results, "edit_cycle": edit_cycles(reader, edit_rounds)}


def load(size: int, generator: random.Random, corpus: str) -> None:
    users: dict[str, int] = {}
    names = {f"seed-user-{n}" for n in range(1, 11)}
    ensure_users(names, users)
    author_ids = sorted(users.values())
    board_id = boards.default_board().pk
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    for first in range(1, size + 1, BATCH):
        rows, documents = [], []
        for message_id in range(first, min(first + BATCH, size + 1)):
            subject = " ".join(generator.choices(seed.WORDS, k=generator.randint(2, 8))).capitalize()
            text = seed._seed_text(generator, corpus, int(generator.lognormvariate(6.5, 1.0)) + 20)
            author = generator.choice(author_ids)
            # No body file: a search reads none. The key names one that is never opened.
            rows.append(
                (
                    *(message_id, subject, f"bench/{message_id}", 1, len(text), "0" * 64),
                    *(author, now, now, author, False, board_id, False, False),
                )
            )
            documents.append((message_id, 1, "0" * 64, subject, text))
        with transaction.atomic():
            seed._insert_rows(Message, seed.SEED_MESSAGE_FIELDS, rows)
            search.documents_put(documents)
            boards.counters_bulk_added({board_id: (len(rows), rows[-1][0])})
    reset_sequences()
    analyze_loaded()


def chosen_queries(corpus: str) -> list[tuple[str, str]]:
    words = corpus.split()
    # The rare word the corpus holds most often: still in few messages (a thousandth at 1M).
    counts = Counter(word.strip(".") for word in words if word.strip(".") in seed.RARE_WORDS)
    rare = counts.most_common(1)[0][0]
    at = next(index for index, word in enumerate(words) if word == "project" and words[index + 1] == "release")
    return [
        ("common word", "project"),
        ("rare word", rare),
        ("phrase", f'"{words[at]} {words[at + 1]}"'),
        ("two common words", "meeting review"),
        ("no match", "xylophonequartz"),
    ]


def matches(reader, text: str) -> int:
    """How many messages match: counted once, for the table (the search itself never counts)."""
    query = search.query_parse(text)
    matcher = search._Match.of(query)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {matcher.from_sql} WHERE {matcher.match_sql}", matcher.match_params)
        return cursor.fetchone()[0]


def timed(reader, text: str, runs: int, *, second_page: bool) -> dict:
    query = search.query_parse(text)
    after = None
    if second_page:
        after = search.messages_search(viewer=reader, query=query, limit=20).next_position
    search.messages_search(viewer=reader, query=query, after=after, limit=20)  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        search.messages_search(viewer=reader, query=query, after=after, limit=20)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "matches": matches(reader, text),
        "median_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, round(len(times) * 0.99) - 1)],
    }


def edit_cycles(reader, rounds: int) -> dict:
    """Edit cycles per second with the index kept and without, in alternating rounds.

    Two kinds: the services alone (open the editor: lease and body; save: file, fsync, publish),
    where the index's share is largest, and the pages (GET the edit page, POST the form, through
    Django's test client in this process), the edit cycle as a person makes it.
    """
    made = [
        services.message_create(author=reader, subject=f"Edited {n}", body="A body that is edited.\n" * 40)
        for n in range(20)
    ]
    client = Client()
    client.force_login(reader)
    counter = iter(range(10**9))

    def by_services() -> None:
        number = next(counter)
        message = made[number % len(made)]
        opened = editing.message_edit_open(message_id=message.pk, user=reader)
        editing.message_edit_save(
            message_id=message.pk,
            user=reader,
            base_version=opened.message.version,
            lease_token=opened.lease.token,
            subject=None,
            body=opened.body[-2000:] + f"One more line, number {number}.\n",
            release_lease=True,
        )

    def by_pages() -> None:
        number = next(counter)
        path = f"/messages/{made[number % len(made)].pk}/edit/"
        form = edit_form(client.get(path).content.decode())
        form["body"] = form["body"][-2000:].replace("\r", "") + f"One more line, number {number}.\n"
        answer = client.post(path, form)
        if answer.status_code != 302:
            raise RuntimeError(f"the save answered {answer.status_code}")

    return {"services": _alternating(by_services, rounds), "pages": _alternating(by_pages, rounds)}


def _alternating(cycle, rounds: int) -> dict:
    real_put = search.document_put
    rates: dict[bool, list[float]] = {True: [], False: []}
    for round_number in range(rounds * 2):
        indexed = round_number % 2 == 0
        search.document_put = real_put if indexed else (lambda **kwargs: None)
        try:
            started = time.perf_counter()
            for _ in range(EDIT_ROUND):
                cycle()
            rates[indexed].append(EDIT_ROUND / (time.perf_counter() - started))
        finally:
            search.document_put = real_put
    every = rates[True] + rates[False]
    return {
        "rounds": rounds,
        "with_index": statistics.median(rates[True]),
        "without_index": statistics.median(rates[False]),
        "spread": (max(every) - min(every)) / statistics.median(every),
    }
