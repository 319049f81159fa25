"""The diff page costs bounded work and memory whatever two versions hold (issue 11, "Diffs")."""

import pytest
from django.test import Client

from messages_app import editing, history_selectors, history_views, services
from tests.support.diff_inputs import CASES, HOSTILE

pytestmark = pytest.mark.django_db

BODY_LIMIT = 262_144
COARSE = "shown is a coarser comparison"
NOT_SHOWN = "more lines of this comparison not shown"


def two_versions(alice, old: str, new: str) -> int:
    message = services.message_create(author=alice, subject="Compared", body=old)
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body=new
    )
    return message.pk


@pytest.fixture
def diffs_computed(monkeypatch) -> list[int]:
    """Record each time the page computes a diff instead of taking it from the cache."""
    computed: list[int] = []
    compute = history_selectors.revision_changes

    def counting(diff):
        computed.append(diff.old.message_id)
        return compute(diff)

    monkeypatch.setattr(history_selectors, "revision_changes", counting)
    return computed


def test_the_crafted_pair_that_stalled_a_worker_gets_a_coarser_comparison_and_the_page_says_so(client, alice):
    message_id = two_versions(alice, *HOSTILE["reversed_self_similar"](34_000))
    response = client.get(f"/messages/{message_id}/diff/1/2/")
    assert response.status_code == 200
    html = response.content.decode()
    assert COARSE in html
    assert f'href="/messages/{message_id}/history/1/"' in html and f'href="/messages/{message_id}/history/2/"' in html


def test_an_ordinary_edit_is_compared_line_by_line_without_the_notice(client, alice):
    message_id = two_versions(alice, *CASES["ordinary_edit"](34_000))
    html = client.get(f"/messages/{message_id}/diff/1/2/").content.decode()
    assert COARSE not in html and NOT_SHOWN not in html
    assert '<ins class="line">Paragraph changed: the date moves to Friday.</ins>' in html
    assert "1 line removed" in html and "1 line added" in html


def test_a_diff_longer_than_a_page_lists_its_first_lines_and_counts_all(client, alice):
    old, new = CASES["full_rewrite"](BODY_LIMIT)
    message_id = two_versions(alice, old, new)
    html = client.get(f"/messages/{message_id}/diff/1/2/").content.decode()
    lines = len(old.splitlines())
    assert f"{lines} lines removed" in html and f"{lines} lines added" in html
    shown = html.count('<del class="line">') + html.count('<ins class="line">')
    assert shown == history_selectors.DIFF_MAX_SHOWN_LINES
    assert f"{2 * lines - shown} {NOT_SHOWN}" in html


def test_a_rendered_diff_is_computed_once_per_pair_of_versions(client, alice, diffs_computed):
    message_id = two_versions(alice, *HOSTILE["popular_reversed"](34_000))
    first = client.get(f"/messages/{message_id}/diff/1/2/").content.decode()
    again = client.get(f"/messages/{message_id}/diff/1/2/").content.decode()
    assert diffs_computed == [message_id]
    assert again == first
    client.get(f"/messages/{message_id}/diff/2/1/")  # the other way round is another diff
    assert diffs_computed == [message_id, message_id]


def test_a_cached_diff_still_answers_410_once_its_message_is_deleted(client, alice, diffs_computed):
    message_id = two_versions(alice, "one\n", "two\n")
    assert client.get(f"/messages/{message_id}/diff/1/2/").status_code == 200
    services.message_delete(message_id=message_id, user=alice)
    assert client.get(f"/messages/{message_id}/diff/1/2/").status_code == 410


def test_rendered_diffs_kept_in_this_process_stay_within_their_byte_budget(client, alice, settings, cache_namespace):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": cache_namespace}
    }
    settings.MESSAGEBOARD_DIFF_CACHE_BYTES = 1024 * 1024
    old, new = CASES["full_rewrite"](BODY_LIMIT)
    for n in range(8):
        message_id = two_versions(alice, old.replace("old", f"o{n:02d}"), new)
        assert client.get(f"/messages/{message_id}/diff/1/2/").status_code == 200
    kept = history_views.DIFF_CHANGES_HTML.local()
    assert kept is not None and 0 < len(kept) < 8
    assert kept.bytes <= settings.MESSAGEBOARD_DIFF_CACHE_BYTES


def test_diffs_not_computed_yet_are_rate_limited_per_address_and_cached_ones_are_not(client, alice, rate_limits):
    rate_limits.MESSAGEBOARD_RATE_DIFFS = "2/minute"
    message = services.message_create(author=alice, subject="Long history", body="v1\n")
    for version in range(1, 4):
        editing.message_edit_save(
            message_id=message.pk,
            user=alice,
            base_version=version,
            lease_token=None,
            subject=None,
            body=f"v{version + 1}\n",
        )
    assert client.get(f"/messages/{message.pk}/diff/1/2/").status_code == 200
    assert client.get(f"/messages/{message.pk}/diff/2/3/").status_code == 200
    refused = client.get(f"/messages/{message.pk}/diff/3/4/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "comparisons faster than this board allows" in refused.content.decode()
    # Already computed: served from the cache, whatever the count.
    assert client.get(f"/messages/{message.pk}/diff/1/2/").status_code == 200
    # Another address has a count of its own.
    assert Client(REMOTE_ADDR="198.51.100.7").get(f"/messages/{message.pk}/diff/3/4/").status_code == 200


@pytest.mark.parametrize(("old", "new"), [("one\ntwo", "one\ntwo\n"), ("one\r\ntwo\r\n", "one\ntwo\n")])
def test_versions_differing_only_in_line_endings_are_not_called_the_same_text(client, alice, old, new):
    message_id = two_versions(alice, old, new)
    html = client.get(f"/messages/{message_id}/diff/1/2/").content.decode()
    assert "differ only in line endings" in html
    assert "have the same text" not in html


def test_a_version_compared_with_itself_is_the_same_text(client, alice):
    message_id = two_versions(alice, "one\n", "two\n")
    html = client.get(f"/messages/{message_id}/diff/2/2/").content.decode()
    assert "have the same text" in html
