"""Eight threads race for one lease; its events must tell one consistent story.

Each thread, on its own connection, takes the lease (retrying while refused), then releases
it, takes it again "from another tab", or walks away until it expires. Afterwards the events,
in id order, must replay as a valid sequence of transitions (acquired only when free or just
found expired, replaced/released/expired only by the holder), and number exactly the grants
and releases the threads saw succeed. Were an event written outside its transition's
transaction, or were "who held it before" read separately from the grant, two threads could
record crossing stories, and the replay would find an event by someone who did not hold it.
"""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from messages_app import leases
from messages_app.errors import LeaseHeld, LeaseLost
from messages_app.models import LeaseEvent

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
ROUNDS = 10


def test_concurrent_transitions_record_one_consistent_story(make_user, make_message, settings):
    settings.MESSAGEBOARD_LEASE_SECONDS = 1
    message = make_message()
    users = [make_user(f"racer{n}") for n in range(THREADS)]
    seen = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def take(user, rng) -> str | None:
        give_up = time.monotonic() + 5
        while time.monotonic() < give_up:
            try:
                return leases.lease_acquire(message_id=message.pk, user=user).token
            except LeaseHeld:
                time.sleep(rng.uniform(0.002, 0.01))
        return None

    def work(index: int) -> None:
        user, rng = users[index], random.Random(index)
        try:
            start.wait()
            for _round in range(ROUNDS):
                token = take(user, rng)
                if token is None:
                    continue
                with lock:
                    seen["grants"] += 1
                action = rng.random()
                if action < 0.2:
                    token = take(user, rng)  # another tab: the holder takes it again
                    if token is None:
                        continue
                    with lock:
                        seen["grants"] += 1
                # Every walk-away keeps the others waiting a TTL: few of them.
                if action > 0.96:
                    time.sleep(1.1)  # walk away: the lease lapses
                    continue
                try:
                    leases.lease_release(message_id=message.pk, user=user, token=token)
                except LeaseLost:
                    pass
                else:
                    with lock:
                        seen["releases"] += 1
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    # A deterministic tail, so the story surely holds a second tab and a lapse taken over
    # whatever the race did under this machine's load.
    tail = random.Random(THREADS)
    assert take(users[0], tail) and take(users[0], tail)
    time.sleep(1.1)
    token = take(users[1], tail)
    leases.lease_release(message_id=message.pk, user=users[1], token=token)
    seen["grants"] += 3
    seen["releases"] += 1

    events = list(LeaseEvent.objects.filter(message=message).order_by("id").values_list("event", "user_id"))
    holder = None
    for position, (event, user_id) in enumerate(events):
        story = f"event {position} ({event} by user {user_id}) after holder {holder}"
        if event == "acquired":
            assert holder is None, story
            holder = user_id
        elif event == "expired":
            assert holder == user_id, story
            holder = None
        elif event in ("replaced", "released"):
            assert holder == user_id, story
            holder = None if event == "released" else holder
        else:
            pytest.fail(story)
    counts = Counter(event for event, _ in events)
    assert counts["acquired"] + counts["replaced"] == seen["grants"]
    assert counts["released"] == seen["releases"]
    assert counts["expired"] > 0 and counts["replaced"] > 0
