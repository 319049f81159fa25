"""The moderators' dashboard (admin) and board_stats: what they show, who may see it, and what it costs."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messages_app import dashboard, editing
from messages_app.models import LeaseWaiter, Revision

pytestmark = pytest.mark.django_db


def edit(message, user, times: int = 1) -> None:
    for _ in range(times):
        current = type(message).objects.get(pk=message.pk).version
        editing.message_edit_save(
            message_id=message.pk,
            user=user,
            base_version=current,
            lease_token=None,
            subject=None,
            body=f"Edited to version {current + 1}.",
        )


@pytest.fixture
def busy_board(make_message, alice, bob, mia):
    quiet = make_message(subject="Quiet one")
    busy = make_message(subject="Busy one")
    edit(busy, bob, times=3)
    edit(quiet, bob)
    held = make_message(subject="Being edited")
    grant = editing.message_lease_acquire(message_id=held.pk, user=alice)
    LeaseWaiter.objects.create(message=held, user=bob, joined_at=timezone.now(), seen_at=timezone.now())
    broken = make_message(subject="Taken over")
    editing.message_lease_acquire(message_id=broken.pk, user=bob)
    editing.message_lease_break(message_id=broken.pk, user=mia)
    return {"quiet": quiet, "busy": busy, "held": held, "grant": grant, "broken": broken}


def test_the_dashboard_shows_leases_edits_busiest_messages_and_breaks(busy_board, mod_client, alice):
    answer = mod_client.get("/admin/dashboard/")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Being edited" in html and "alice" in html
    assert "<svg" in html and 'class="edits-chart"' in html
    assert "Busy one" in html and "Taken over" in html

    stats = dashboard.board_stats()
    (lease,) = [lease for lease in stats.leases if lease.message_id == busy_board["held"].pk]
    assert (lease.holder, lease.waiting) == ("alice", 1)
    assert [busy.subject for busy in stats.busiest][:2] == ["Busy one", "Quiet one"]
    assert stats.busiest[0].edits == 3
    assert stats.edits_this_week == 4
    assert len(stats.edits_per_hour) in (168, 169)
    assert stats.breaks[0].message_id == busy_board["broken"].pk and stats.breaks[0].moderator == "mia"


def test_edits_older_than_a_week_are_left_out(busy_board):
    Revision.objects.filter(message=busy_board["busy"]).update(created_at=timezone.now() - timedelta(days=8))
    stats = dashboard.board_stats()
    assert stats.edits_this_week == 1
    assert [busy.subject for busy in stats.busiest] == ["Quiet one"]


def test_the_admin_index_links_to_the_dashboard(mod_client):
    assert 'href="/admin/dashboard/"' in mod_client.get("/admin/").content.decode()


def test_only_moderators_see_the_dashboard(alice_client):
    assert alice_client.get("/admin/dashboard/").status_code in (302, 403)
    assert Client().get("/admin/dashboard/").status_code == 302


def test_the_dashboard_renders_in_at_most_ten_queries(busy_board, mod_client):
    mod_client.get("/admin/dashboard/")  # sessions and grants read once
    with CaptureQueriesContext(connection) as queries:
        assert mod_client.get("/admin/dashboard/").status_code == 200
    assert len(queries.captured_queries) <= 10, [query["sql"] for query in queries.captured_queries]


def test_board_stats_prints_the_same_figures_and_json(busy_board, run_command):
    text = run_command("board_stats")
    assert text.code == 0
    assert "Leases held now: 1" in text.out and "Busy one" in text.out and "Edits in the last 7 days: 4" in text.out

    data = json.loads(run_command("board_stats", "--json").out)
    assert data["edits_this_week"] == 4
    assert data["leases"][0]["holder"] == "alice" and data["leases"][0]["waiting"] == 1
    assert data["busiest"][0] == {"message_id": busy_board["busy"].pk, "subject": "Busy one", "edits": 3}
    assert data["breaks"][0]["by"] == "mia"
