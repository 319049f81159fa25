"""API tokens: issue, authenticate, list and revoke them; every write to tokens goes through here.

A token is a random key handed out once; only its SHA-256 is stored. It signs in until it is
revoked (by its owner, or by a change of its owner's password) or it expires.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from messages_app.errors import TOKEN_LIFETIME, InvalidInput, TokenNotFound, TooManyTokens
from messages_app.models import Token

TOKEN_KEY_PREFIX = "mb_"
# Recording every use would turn each API call into a write; once a minute still shows use.
TOKEN_TOUCH_SECONDS = 60
# docs/API.md: expires_in_days is 1 to 365, 90 when left out; at most 20 live tokens per user.
TOKEN_DAYS_DEFAULT = 90
TOKEN_DAYS_MIN = 1
TOKEN_DAYS_MAX = 365
MAX_LIVE_TOKENS = 20


def token_hash(key: str) -> str:
    """Return the digest under which an API token key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(*, user: AbstractBaseUser, expires_in_days: int = TOKEN_DAYS_DEFAULT) -> tuple[Token, str]:
    """Issue a new API token for the user; return it with its key, which is never stored."""
    if isinstance(expires_in_days, bool) or not TOKEN_DAYS_MIN <= expires_in_days <= TOKEN_DAYS_MAX:
        raise InvalidInput(TOKEN_LIFETIME, field="expires_in_days")
    key = TOKEN_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Two requests of one user at once queue on the user's row (PostgreSQL; SQLite runs one
        # writer at a time anyway), so both cannot see 19 live tokens and make the 21st.
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        if Token.objects.live().filter(user=user).count() >= MAX_LIVE_TOKENS:
            raise TooManyTokens(MAX_LIVE_TOKENS)
        now = timezone.now()
        token = Token.objects.create(
            user=user,
            prefix=key[: len(TOKEN_KEY_PREFIX) + 6],
            key_hash=token_hash(key),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days),
        )
    return token, key


def token_authenticate(*, key: str) -> AbstractBaseUser | None:
    """Return the active user whose live API token has this key, or None."""
    token = Token.objects.live().select_related("user").filter(key_hash=token_hash(key), user__is_active=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= timedelta(seconds=TOKEN_TOUCH_SECONDS):
        Token.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_list(*, user: AbstractBaseUser) -> list[Token]:
    """Return the user's live tokens, newest first."""
    return list(Token.objects.live().filter(user=user).order_by("-created_at", "-pk"))


def token_revoke(*, key: str) -> bool:
    """Revoke the API token with this key; return whether a live token was revoked."""
    return bool(Token.objects.live().filter(key_hash=token_hash(key)).update(revoked_at=timezone.now()))


def token_revoke_by_id(*, user: AbstractBaseUser, token_id: int) -> None:
    """Revoke one of the user's live tokens; anyone else's, or a dead one, is TokenNotFound."""
    if not Token.objects.live().filter(pk=token_id, user=user).update(revoked_at=timezone.now()):
        raise TokenNotFound()


def user_password_changed(*, user: AbstractBaseUser) -> int:
    """End every live API token of a user whose password was just changed; return how many.

    The user's other sessions end by themselves: each stores a hash of the password it was
    signed in with, which no longer matches.
    """
    return Token.objects.live().filter(user=user).update(revoked_at=timezone.now())


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _end_tokens_on_new_password(sender, instance: AbstractBaseUser, created: bool, **kwargs) -> None:
    # Every way to change a password (the account page, the admin, a password reset,
    # `manage.py changepassword`) calls set_password() and then save(). set_password() keeps
    # the raw password in _password until that save has run; a hash upgraded at sign-in is
    # saved without it, and must not end anyone's tokens.
    if not created and getattr(instance, "_password", None) is not None:
        user_password_changed(user=instance)
