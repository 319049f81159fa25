"""API tokens from issue to end: lifetime, the 20-token limit, listing, revoking (issue 11)."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messages_app import tokens
from messages_app.errors import TooManyTokens
from messages_app.models import Token
from tests.support.api import ApiClient, assert_error
from tests.support.migrations import migrated_back_to

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
SIGNED_IN_WRITE = ("/api/messages", {"subject": "s", "body": "b"})


def sign_in(anon, **extra):
    return anon.post("/api/auth/token", {"username": "alice", "password": PASSWORD, **extra})


def can_write(key: str) -> bool:
    """Return whether the key signs a write in (201), or is refused as no user (401)."""
    response = ApiClient(key).post(*SIGNED_IN_WRITE)
    assert response.status_code in {201, 401}, response.content
    return response.status_code == 201


def same_instant(text: str, moment) -> bool:
    """Return whether an API timestamp names this moment (the JSON keeps milliseconds)."""
    return abs(parse_datetime(text) - moment) < timedelta(milliseconds=1)


def expire(token: Token) -> None:
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def revoke(token: Token) -> None:
    Token.objects.filter(pk=token.pk).update(revoked_at=timezone.now())


# Lifetime ---------------------------------------------------------------------------------


def test_the_answer_names_the_token_its_id_and_when_it_expires(alice, anon):
    response = sign_in(anon)
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"token", "id", "expires_at"}
    stored = Token.objects.get(pk=data["id"])
    assert stored.user == alice
    assert same_instant(data["expires_at"], stored.expires_at)
    assert data["expires_at"].endswith(("Z", "+00:00"))


def test_a_token_lives_90_days_unless_asked(alice, anon):
    before = timezone.now()
    data = sign_in(anon).json()
    after = timezone.now()
    expires_at = parse_datetime(data["expires_at"])
    assert before + timedelta(days=90) <= expires_at <= after + timedelta(days=90)


@pytest.mark.parametrize("days", [1, 30, 365])
def test_expires_in_days_sets_the_lifetime(alice, anon, days):
    response = sign_in(anon, expires_in_days=days)
    assert response.status_code == 201, response.content
    token = Token.objects.get(pk=response.json()["id"])
    assert token.expires_at - token.created_at == timedelta(days=days)


@pytest.mark.parametrize("days", [0, -1, 366, 10**20, "x", "30", 1.5, True, None])
def test_a_lifetime_outside_1_to_365_whole_days_is_422_invalid_and_makes_no_token(alice, anon, days, password_hashes):
    data = assert_error(sign_in(anon, expires_in_days=days), 422, "invalid")
    assert "expires_in_days" in data["fields"]
    assert not Token.objects.exists()
    # Refused as it was read: no password was hashed for it.
    assert password_hashes() == 0


def test_an_expired_token_is_401(alice_api):
    assert alice_api.post(*SIGNED_IN_WRITE).status_code == 201
    expire(Token.objects.get())
    assert_error(alice_api.post(*SIGNED_IN_WRITE), 401, "unauthenticated")
    assert_error(alice_api.get("/api/auth/tokens"), 401, "unauthenticated")


def test_a_token_still_signs_in_until_its_last_moment(alice):
    token, key = tokens.token_create(user=alice)
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    assert can_write(key)


# At most 20 live tokens ----------------------------------------------------------------------


def test_the_21st_live_token_is_429_too_many_tokens(alice, anon):
    for _ in range(20):
        assert sign_in(anon).status_code == 201
    response = sign_in(anon)
    assert response.status_code == 429
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["error"] == "too_many_tokens"
    assert "20" in response.json()["detail"]
    assert Token.objects.count() == 20


def test_revoked_and_expired_tokens_do_not_count_toward_the_20(alice, bob, anon):
    made = [tokens.token_create(user=alice)[0] for _ in range(20)]
    revoke(made[0])
    expire(made[1])
    for _ in range(5):
        tokens.token_create(user=bob)  # another user's tokens are theirs alone
    assert sign_in(anon).status_code == 201
    assert sign_in(anon).status_code == 201
    assert_error(sign_in(anon), 429, "too_many_tokens")
    assert Token.objects.live().filter(user=alice).count() == 20


def test_create_api_token_keeps_to_the_same_limit_and_lifetimes(alice, capsys):
    call_command("create_api_token", "alice", "--expires-in-days", "7")
    key = capsys.readouterr().out.strip()
    token = Token.objects.get(key_hash=tokens.token_hash(key))
    assert token.expires_at - token.created_at == timedelta(days=7)
    with pytest.raises(CommandError, match="from 1 to 365"):
        call_command("create_api_token", "alice", "--expires-in-days", "366")
    for _ in range(19):
        tokens.token_create(user=alice)
    with pytest.raises(CommandError, match="20 API tokens"):
        call_command("create_api_token", "alice")


@pytest.mark.django_db(transaction=True)
def test_tokens_asked_for_at_once_never_pass_20(alice):
    for _ in range(18):
        tokens.token_create(user=alice)
    threads_count = 6
    start = threading.Barrier(threads_count)
    outcomes: list[str] = []

    def ask() -> None:
        try:
            start.wait()
            tokens.token_create(user=alice)
            outcomes.append("issued")
        except TooManyTokens:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["issued"] * 2 + ["refused"] * (threads_count - 2)
    assert Token.objects.live().filter(user=alice).count() == 20


# Listing -------------------------------------------------------------------------------------


def test_the_list_shows_the_callers_live_tokens_newest_first_and_never_a_secret(alice, bob):
    issued = [tokens.token_create(user=alice) for _ in range(4)]
    revoke(issued[1][0])
    expire(issued[2][0])
    _bobs, bobs_key = tokens.token_create(user=bob)
    caller, key = issued[3]

    response = ApiClient(key).get("/api/auth/tokens")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [caller.pk, issued[0][0].pk]
    assert all(set(item) == {"id", "prefix", "created_at", "last_used_at", "expires_at"} for item in items)
    first = Token.objects.get(pk=issued[0][0].pk)
    assert items[1] == {
        "id": first.pk,
        "prefix": first.prefix,
        "created_at": items[1]["created_at"],
        "last_used_at": None,
        "expires_at": items[1]["expires_at"],
    }
    assert same_instant(items[1]["expires_at"], first.expires_at)
    assert same_instant(items[1]["created_at"], first.created_at)
    assert parse_datetime(items[0]["last_used_at"]) is not None  # this very call used it
    text = response.content.decode()
    for _token, secret in [*issued, (None, bobs_key)]:
        assert secret not in text
    for token in Token.objects.all():
        assert token.key_hash not in text


def test_the_list_needs_a_user(anon):
    assert_error(anon.get("/api/auth/tokens"), 401, "unauthenticated")


def test_a_browser_session_lists_its_own_tokens(alice, alice_client):
    token, _key = tokens.token_create(user=alice)
    response = ApiClient(client=alice_client).get("/api/auth/tokens")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [token.pk]


# Revoking ------------------------------------------------------------------------------------


def test_deleting_an_own_token_is_204_and_then_it_is_401(alice):
    doomed, doomed_key = tokens.token_create(user=alice)
    _kept, kept_key = tokens.token_create(user=alice)
    caller = ApiClient(kept_key)
    response = caller.delete(f"/api/auth/tokens/{doomed.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not can_write(doomed_key)
    assert can_write(kept_key)
    assert doomed.pk not in {item["id"] for item in caller.get("/api/auth/tokens").json()["items"]}


def test_a_token_can_revoke_itself_by_id(alice):
    token, key = tokens.token_create(user=alice)
    assert ApiClient(key).delete(f"/api/auth/tokens/{token.pk}").status_code == 204
    assert not can_write(key)


def test_deleting_someone_elses_token_is_404_and_it_keeps_working(alice_api, bob):
    bobs, bobs_key = tokens.token_create(user=bob)
    assert_error(alice_api.delete(f"/api/auth/tokens/{bobs.pk}"), 404, "not_found")
    assert can_write(bobs_key)
    assert Token.objects.get(pk=bobs.pk).revoked_at is None


@pytest.mark.parametrize("token_id", ["revoked", "expired", "0", "999999", str(2**63), str(10**30)])
def test_deleting_a_dead_or_unknown_token_is_404(alice, alice_api, token_id):
    if token_id in {"revoked", "expired"}:
        token, _key = tokens.token_create(user=alice)
        (revoke if token_id == "revoked" else expire)(token)
        token_id = str(token.pk)
    assert_error(alice_api.delete(f"/api/auth/tokens/{token_id}"), 404, "not_found")


def test_deleting_a_token_needs_a_user(alice, anon):
    token, key = tokens.token_create(user=alice)
    assert_error(anon.delete(f"/api/auth/tokens/{token.pk}"), 401, "unauthenticated")
    assert can_write(key)


def test_delete_api_auth_token_revokes_only_the_token_in_use(alice):
    _used, used_key = tokens.token_create(user=alice)
    _other, other_key = tokens.token_create(user=alice)
    assert ApiClient(used_key).delete("/api/auth/token").status_code == 204
    assert not can_write(used_key)
    assert can_write(other_key)


def test_ending_a_users_tokens_leaves_other_users_tokens_alone(alice, bob):
    keys = [tokens.token_create(user=alice)[1] for _ in range(3)]
    _bobs, bobs_key = tokens.token_create(user=bob)
    assert tokens.user_password_changed(user=alice) == 3
    assert not any(can_write(key) for key in keys)
    assert can_write(bobs_key)


# Tokens issued before they expired --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_earlier_tokens_90_days_from_their_creation(alice):
    before, after = ("messages_app", "0006_leaseevent_broken_recent"), ("messages_app", "0007_token_expires_at")
    with migrated_back_to(before) as executor:
        old_token = executor.loader.project_state(before).apps.get_model("messages_app", "Token")
        created = timezone.now() - timedelta(days=100)
        recent = timezone.now() - timedelta(days=10)
        for key, at in (("long-ago", created), ("lately", recent)):
            old_token.objects.create(user_id=alice.pk, prefix=key[:9], key_hash=key, created_at=at)
        executor.migrate([after])
    stored = {token.key_hash: token for token in Token.objects.all()}
    assert stored["long-ago"].expires_at == created + timedelta(days=90)
    assert stored["lately"].expires_at == recent + timedelta(days=90)
    assert list(Token.objects.live().values_list("key_hash", flat=True)) == ["lately"]
