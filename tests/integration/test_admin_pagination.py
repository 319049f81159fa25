"""Every uncounted admin change list answers 404 for a page that is not there, never 500 (issue 11).

The lists never count their rows (NoCountPaginator): a page beyond the last one is known only
by coming back empty. A page number past any OFFSET the database takes crashed the query.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from messages_app import editing
from messages_app.admin import UncountedAdmin
from messages_app.models import LeaseEvent

pytestmark = pytest.mark.django_db

PER_PAGE = 2
UNCOUNTED = sorted(
    (model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, UncountedAdmin)),
    key=lambda model_admin: model_admin.opts.label,
)


def changelist(model_admin) -> str:
    return reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist")


@pytest.fixture(params=UNCOUNTED, ids=lambda model_admin: model_admin.opts.label)
def listed(request, monkeypatch, make_message, mia):
    """An uncounted change list at two rows a page, with three rows: two pages."""
    model_admin = request.param
    monkeypatch.setattr(model_admin, "list_per_page", PER_PAGE)
    for n in range(3):
        message = make_message(subject=f"Message {n}")
        if model_admin.model is LeaseEvent:
            editing.message_lease_acquire(message_id=message.pk, user=mia)
    assert model_admin.model.objects.count() == 3
    return changelist(model_admin)


def test_there_is_an_uncounted_change_list_for_messages_and_for_lease_events():
    assert {model_admin.opts.label for model_admin in UNCOUNTED} >= {"messages_app.Message", "messages_app.LeaseEvent"}


@pytest.mark.parametrize("page_number", ["1", "2"])
def test_the_pages_that_exist_are_shown(listed, mod_client, page_number):
    response = mod_client.get(listed, {"p": page_number})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "page_number",
    [
        "3",  # one past the last
        "999999",
        "99999999999999999999999",  # past any OFFSET: the query crashed
        str(2**63),
        "0",
        "-1",
        "abc",
        "1e3",
        " 2",
        "",
    ],
)
def test_a_page_that_is_not_there_is_404_never_500(listed, mod_client, page_number):
    response = mod_client.get(listed, {"p": page_number})
    assert response.status_code == 404


def test_a_search_with_fewer_rows_than_a_page_has_no_second_page(listed, mod_client):
    # One page of results: the admin used to show that page again as page 2.
    assert mod_client.get(listed, {"q": "no such thing", "p": "2"}).status_code == 404
    assert mod_client.get(listed, {"q": "no such thing"}).status_code == 200
