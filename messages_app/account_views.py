"""The signed-in user's account pages: their API tokens, and changing their password."""

from django.contrib import messages as flash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_POST

from messages_app import ratelimits, tokens
from messages_app.errors import RateLimited, TokenNotFound
from messages_app.views import rate_limited_page

TOKEN_REVOKED = "The token is revoked: it no longer signs in."


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "registration/account.html",
        {"tokens": tokens.token_list(user=request.user), "max_tokens": tokens.MAX_LIVE_TOKENS},
    )


@require_POST
@login_required
def account_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        tokens.token_revoke_by_id(user=request.user, token_id=token_id)
    except TokenNotFound as missing:
        return render(request, "404.html", {"detail": missing.detail}, status=404)
    flash.success(request, TOKEN_REVOKED)
    return redirect("account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, which keeps this session and ends every other way in.

    Django signs the user's other sessions out (each holds a hash of the old password, which
    no longer matches); saving the new password ends the API tokens (tokens.py).
    """

    template_name = "registration/account_password_change.html"
    success_url = reverse_lazy("password_change_done")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # The old password is a password guess like a sign-in's (a stolen session could try
        # them all): the same limits, checked before any hash is computed.
        try:
            ratelimits.check_password_guess(request, request.user.get_username())
        except RateLimited as limited:
            return rate_limited_page(request, limited)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if form.has_error("old_password"):
            ratelimits.count_password_failure(self.request, self.request.user.get_username())
        return super().form_invalid(form)


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/account_password_change_done.html"
