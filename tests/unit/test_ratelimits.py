"""messages_app.ratelimits: counting, Retry-After, addresses, settings, and counts shared through Redis."""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import limits.storage.memory
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from messageboard import settings as board_settings
from messages_app import ratelimits
from messages_app.errors import RateLimited

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/0"


def request_from(remote_addr: str, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


def refusal(name: str, *identifiers: str) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        ratelimits.count(name, *identifiers)
    return refused.value


# Counting -------------------------------------------------------------------------------


def test_a_limit_reads_its_figures_from_its_setting_shortest_window_first(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "30/hour;2/minute"
    assert [(item.amount, item.get_expiry()) for item in ratelimits.limit_items("post_user")] == [(2, 60), (30, 3600)]


def test_the_request_past_the_limit_is_refused_with_the_seconds_until_a_slot_frees(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "3/minute"
    for _ in range(3):
        ratelimits.count("post_user", "7")
    refused = refusal("post_user", "7")
    assert 55 <= refused.retry_after <= 60
    assert refused.detail.startswith(ratelimits.LIMITS["post_user"].reason)
    assert "Try again in" in refused.detail


def test_each_identifier_has_a_count_of_its_own(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "1/minute"
    ratelimits.count("post_user", "1")
    ratelimits.count("post_user", "2")
    ratelimits.count("save_user", "1")
    refusal("post_user", "1")


def test_every_figure_of_a_limit_must_hold(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "5/minute;3/hour"
    for _ in range(3):
        ratelimits.count("post_user", "7")
    refused = refusal("post_user", "7")
    # The hour's figure refused it: the wait is the hour's, not the minute's.
    assert refused.retry_after > 60


def test_testing_a_limit_does_not_use_it_up(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_SIGNIN = "2/minute"
    for _ in range(5):
        ratelimits.test("signin_user_ip", "10.0.0.1", "alice")
    ratelimits.count("signin_user_ip", "10.0.0.1", "alice")
    ratelimits.count("signin_user_ip", "10.0.0.1", "alice")
    with pytest.raises(RateLimited):
        ratelimits.test("signin_user_ip", "10.0.0.1", "alice")


def test_rate_limits_off_counts_nothing(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "1/hour"
    rate_limits.MESSAGEBOARD_RATE_LIMITS = False
    for _ in range(10):
        ratelimits.count("post_user", "7")
    rate_limits.MESSAGEBOARD_RATE_LIMITS = True
    ratelimits.count("post_user", "7")
    refusal("post_user", "7")


def test_moderators_are_not_limited_and_members_are(rate_limits, make_user, mia):
    rate_limits.MESSAGEBOARD_RATE_POSTS = "1/minute"
    member = make_user("member")
    for _ in range(3):
        ratelimits.limit_user("post_user", mia)
    ratelimits.limit_user("post_user", member)
    with pytest.raises(RateLimited):
        ratelimits.limit_user("post_user", member)


def test_wait_is_said_in_words_a_person_reads():
    assert RateLimited("Slow down.", retry_after=1).detail == "Slow down. Try again in 1 second."
    assert RateLimited("Slow down.", retry_after=45).detail == "Slow down. Try again in 45 seconds."
    assert RateLimited("Slow down.", retry_after=61).detail == "Slow down. Try again in about 2 minutes."
    assert RateLimited("Slow down.", retry_after=3600).detail == "Slow down. Try again in about 60 minutes."
    assert RateLimited("Slow down.", retry_after=86400).detail == "Slow down. Try again in about 24 hours."


class FakeClock:
    """time.time() for the memory storage and ratelimits, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


def test_defaults_never_refuse_a_person_working_fast_and_stop_a_script(rate_limits, monkeypatch, settings):
    """A person posting every 15 s (50 posts) and opening and saving an edit every 10 s (100
    edits) without a break is never refused by the default figures; a script doing the same as
    fast as it can is refused within its first dozen posts or saves and two dozen lease requests."""
    settings.MESSAGEBOARD_RATE_STORAGE = "memory://"
    clock = FakeClock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(ratelimits, "time", clock)
    person, script = "1", "2"
    for second in range(0, 3600, 5):
        clock.now += 5
        if second % 15 == 0 and second < 15 * 50:  # 50 posts in the first 12.5 minutes
            ratelimits.count("post_user", person)
        if second % 10 == 0 and second < 10 * 100:  # 100 edits in the first 17 minutes
            ratelimits.count("lease_user", person)
            ratelimits.count("save_user", person)
    for name, most in (("post_user", 12), ("save_user", 12), ("lease_user", 24)):
        with pytest.raises(RateLimited):
            for _ in range(most):
                ratelimits.count(name, script)


# Settings --------------------------------------------------------------------------------


def test_unreadable_figures_in_the_environment_stop_the_board_at_startup(monkeypatch):
    monkeypatch.setenv("MESSAGEBOARD_RATE_POSTS", "six a minute")
    with pytest.raises(ImproperlyConfigured, match="MESSAGEBOARD_RATE_POSTS must be rate limits"):
        board_settings.env_rate("MESSAGEBOARD_RATE_POSTS", "6/minute")
    monkeypatch.setenv("MESSAGEBOARD_RATE_POSTS", "3/minute;30/hour")
    assert board_settings.env_rate("MESSAGEBOARD_RATE_POSTS", "6/minute") == "3/minute;30/hour"


def test_unreadable_figures_in_settings_are_named_when_used(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_SAVES = "lots"
    with pytest.raises(ImproperlyConfigured, match="MESSAGEBOARD_RATE_SAVES"):
        ratelimits.count("save_user", "1")


# Addresses -------------------------------------------------------------------------------


def test_the_address_is_remote_addr_and_x_forwarded_for_is_ignored_by_default(settings):
    assert settings.MESSAGEBOARD_TRUSTED_PROXY_COUNT == 0
    assert ratelimits.client_address(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_one_trusted_proxy_the_address_is_the_one_it_saw(settings):
    settings.MESSAGEBOARD_TRUSTED_PROXY_COUNT = 1
    # The client wrote the first entry itself; the proxy appended the address it saw.
    spoofed = request_from("10.0.0.2", "198.51.100.1, 203.0.113.9")
    assert ratelimits.client_address(spoofed) == "203.0.113.9"
    assert ratelimits.client_address(request_from("10.0.0.2")) == "10.0.0.2"


def test_behind_two_trusted_proxies_the_address_is_the_outer_ones(settings):
    settings.MESSAGEBOARD_TRUSTED_PROXY_COUNT = 2
    request = request_from("10.0.0.2", "198.51.100.1, 203.0.113.9, 10.0.0.1")
    assert ratelimits.client_address(request) == "203.0.113.9"
    assert ratelimits.client_address(request_from("10.0.0.2", "203.0.113.9")) == "203.0.113.9"


def test_ipv6_addresses_count_by_their_64_bit_network(settings):
    one = ratelimits.client_address(request_from("2001:db8:1:2::1"))
    other = ratelimits.client_address(request_from("2001:db8:1:2:ffff::9"))
    assert one == other == "2001:db8:1:2::/64"
    assert ratelimits.client_address(request_from("2001:db8:1:3::1")) != one
    settings.MESSAGEBOARD_RATE_IPV6_PREFIX = 128
    assert ratelimits.client_address(request_from("2001:db8:1:2::1")) == "2001:db8:1:2::1/128"


def test_ipv4_mapped_ipv6_counts_as_the_ipv4_address():
    assert ratelimits.client_address(request_from("::ffff:203.0.113.9")) == "203.0.113.9"


def test_an_address_that_is_not_one_still_makes_a_bounded_key():
    assert ratelimits.client_address(request_from("")) == "unknown"
    assert len(ratelimits.client_address(request_from("x" * 1000))) == 64


# Storage ---------------------------------------------------------------------------------


def test_counts_are_shared_by_two_independent_redis_storages(rate_limits):
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    rate_limits.MESSAGEBOARD_RATE_POSTS = "3/minute"
    prefix = rate_limits.MESSAGEBOARD_RATE_KEY_PREFIX
    first, second = (MovingWindowRateLimiter(RedisStorage(REDIS, key_prefix=prefix)) for _ in range(2))
    (item,) = ratelimits.limit_items("post_user")
    try:
        assert first.hit(item, "post_user", "7")
        assert second.hit(item, "post_user", "7")
        assert first.hit(item, "post_user", "7")
        assert not second.hit(item, "post_user", "7")
    finally:
        first.clear(item, "post_user", "7")


def test_counts_are_shared_across_processes_through_redis(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_STORAGE = REDIS
    rate_limits.MESSAGEBOARD_RATE_POSTS = "3/minute"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messageboard.settings",
        "MESSAGEBOARD_RATE_STORAGE": REDIS,
        "MESSAGEBOARD_RATE_KEY_PREFIX": rate_limits.MESSAGEBOARD_RATE_KEY_PREFIX,
        "MESSAGEBOARD_RATE_POSTS": "3/minute",
        "PYTHONWARNINGS": "ignore",
    }
    worker = textwrap.dedent(
        """
        import django
        django.setup()
        from messages_app import ratelimits
        from messages_app.errors import RateLimited
        for _ in range(3):
            ratelimits.count("post_user", "7")
        try:
            ratelimits.count("post_user", "7")
        except RateLimited:
            print("refused")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", worker], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "refused"
    # This process never counted a post of user 7, yet the other process used up the limit.
    refusal("post_user", "7")


def test_an_unreachable_storage_lets_requests_through_and_says_so(rate_limits, caplog):
    rate_limits.MESSAGEBOARD_RATE_STORAGE = "redis://127.0.0.1:9/0"
    rate_limits.MESSAGEBOARD_RATE_POSTS = "1/minute"
    with caplog.at_level(logging.WARNING, logger="messages_app.ratelimits"):
        ratelimits.count("post_user", "7")
        ratelimits.count("post_user", "7")
        ratelimits.test("post_user", "7")
    assert "rate limit post_user not checked" in caplog.text
    # The fixture removes this test's keys from the storage in use afterwards: one that answers.
    rate_limits.MESSAGEBOARD_RATE_STORAGE = "memory://"


def test_changing_the_storage_setting_builds_a_new_limiter(rate_limits):
    rate_limits.MESSAGEBOARD_RATE_STORAGE = "memory://"
    built = ratelimits.limiter()
    assert ratelimits.limiter() is built
    rate_limits.MESSAGEBOARD_RATE_STORAGE = REDIS
    assert ratelimits.limiter() is not built
    assert ratelimits.limiter().storage.key_prefix == rate_limits.MESSAGEBOARD_RATE_KEY_PREFIX
