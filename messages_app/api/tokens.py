"""API tokens: exchange a password for one, list and revoke them."""

from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Path, Router, Status

from messages_app import ratelimits, tokens
from messages_app.api.auth import BearerToken, bearer_key
from messages_app.api.errors import BAD_CREDENTIALS, ApiError
from messages_app.api.http import no_content, token_out
from messages_app.api.schemas import BODY_ERRORS, ErrorOut, InvalidOut, TokenListOut, TokenOut, TokenRequestIn

router = Router()


@router.post(
    "/auth/token",
    response={201: TokenOut, 401: ErrorOut, 422: InvalidOut, 429: ErrorOut, **BODY_ERRORS},
    operation_id="token_create",
    auth=None,
    tags=["auth"],
    summary="Exchange a username and password for an API token",
    description=(
        f"The token expires after `expires_in_days` ({tokens.TOKEN_DAYS_MIN}–{tokens.TOKEN_DAYS_MAX}, "
        f"default {tokens.TOKEN_DAYS_DEFAULT}), when revoked, or when its user's password changes. "
        f"A user has at most {tokens.MAX_LIVE_TOKENS} live tokens: one more is `429 too_many_tokens`."
    ),
)
def token_create(request: HttpRequest, credentials: TokenRequestIn):
    ratelimits.limit_address("token_ip", request)
    user = authenticate(request, username=credentials.username, password=credentials.password)
    if user is None:
        # Refused before any password was hashed: this username or address is locked out.
        if refused := ratelimits.signin_refusal(request):
            raise refused
        raise ApiError(401, "unauthenticated", BAD_CREDENTIALS)
    token, key = tokens.token_create(user=user, expires_in_days=credentials.expires_in_days)
    return Status(201, {"token": key, "id": token.pk, "expires_at": token.expires_at})


@router.delete(
    "/auth/token",
    auth=BearerToken(),
    response={204: None, 401: ErrorOut},
    operation_id="token_revoke",
    tags=["auth"],
    summary="Revoke the bearer token this request is sent with",
)
def token_revoke(request: HttpRequest):
    tokens.token_revoke(key=bearer_key(request))
    return no_content()


@router.get(
    "/auth/tokens",
    response={200: TokenListOut, 401: ErrorOut},
    operation_id="token_list",
    tags=["auth"],
    summary="List the caller's live API tokens, newest first (never their secrets)",
)
def token_list(request: HttpRequest):
    return {"items": [token_out(token) for token in tokens.token_list(user=request.auth)]}


@router.delete(
    "/auth/tokens/{int:token_id}",
    response={204: None, 401: ErrorOut, 404: ErrorOut},
    operation_id="token_revoke_by_id",
    tags=["auth"],
    summary="Revoke one of the caller's API tokens (anyone else's id is 404)",
)
def token_revoke_by_id(request: HttpRequest, token_id: int = Path(...)):
    # Any id that is not one of the caller's live tokens, 0 and numbers beyond any column included, is a 404.
    tokens.token_revoke_by_id(user=request.auth, token_id=token_id)
    return no_content()
