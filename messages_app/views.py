"""Server-rendered pages and their HTMX fragments."""

import contextlib
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from messages_app import editing, pagecache, permissions, ratelimits, selectors, services
from messages_app.errors import (
    DomainError,
    InvalidInput,
    LeaseCooldown,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    RevisionNotFound,
    TooManyLeases,
    VersionConflict,
)
from messages_app.forms import MessageEditForm, MessageForm, SignupForm

EDIT_TEMPLATE = "messages_app/message_edit.html"
LIST_TEMPLATE = "messages_app/message_list.html"
LIST_ROW_TEMPLATE = "messages_app/message_list_row.html"
ARTICLE_TEMPLATE = "messages_app/message_article.html"
WAIT_POLL_SECONDS = 5
STALE_EDIT_FORM = (
    "This edit form lacks the version or lease it was opened with, so it cannot be saved. "
    "Your text is kept below: copy it and open the editor again."
)


def _error_page(request: HttpRequest, error: DomainError, *, kept: dict | None = None, message_id: int | None = None):
    """Render the page a person sees for a domain error: the one mapping for pages."""
    if isinstance(error, (MessageNotFound, RevisionNotFound)):
        return render(request, "404.html", {"detail": error.detail}, status=404)
    if isinstance(error, MessageGone):
        can_restore = False
        if message_id is not None and request.user.is_authenticated:
            try:
                state = selectors.message_state(message_id=message_id, include_deleted=True)
            except MessageNotFound:
                return render(request, "404.html", {"detail": MessageNotFound.message}, status=404)
            can_restore = permissions.may_restore(
                request.user, author_id=state.author_id, deleted_by_id=state.deleted_by_id
            )
        context = {"detail": error.detail, "message_id": message_id, "kept": kept, "can_restore": can_restore}
        return render(request, "messages_app/gone.html", context, status=410)
    if isinstance(error, NotAllowed):
        return render(request, "403.html", {"detail": error.detail, "kept": kept}, status=403)
    if isinstance(error, RateLimited):
        return rate_limited_page(request, error, kept=kept)
    raise error


def rate_limited_page(request: HttpRequest, error: RateLimited, *, kept: dict | None = None) -> HttpResponse:
    """Render the 429 page: what was refused, when to try again, and any text the person typed."""
    response = render(request, "429.html", {"detail": error.detail, "kept": kept}, status=429)
    return retry_after(response, error)


def retry_after(response: HttpResponse, error: RateLimited) -> HttpResponse:
    response["Retry-After"] = str(error.retry_after)
    return response


def shows_domain_errors(view: Callable) -> Callable:
    """Turn missing, deleted and forbidden messages into their pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (MessageNotFound, RevisionNotFound, MessageGone, NotAllowed, RateLimited) as error:
            return _error_page(request, error, message_id=kwargs.get("message_id"))

    return wrapper


def cursor_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    # isdigit() alone also accepts digits int() refuses, such as "²".
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError(f"'{name}' must be a positive whole number.")
    return int(raw)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", {"detail": "There is no page at this address."}, status=404)


@require_GET
@vary_on_headers("HX-Request")
def message_list(request: HttpRequest) -> HttpResponse:
    try:
        before = cursor_param(request, "before")
    except ValueError as error:
        return render(request, "400.html", {"detail": str(error)}, status=400)
    # What makes one list page differ from another, besides the list generation (pagecache.py).
    signed_in, fragment_only = request.user.is_authenticated, bool(request.htmx)
    html = pagecache.list_page(
        (before, signed_in, fragment_only), lambda: _list_html(before, signed_in=signed_in, fragment_only=fragment_only)
    )
    if fragment_only:
        return HttpResponse(html)
    return board_page(request, title="Messages", content=html)


def _list_html(before: int | None, *, signed_in: bool, fragment_only: bool) -> tuple[str, float | None]:
    """Render a list page (or its section alone) and say when its first lease runs out."""
    page = selectors.message_list_page(before=before)
    row = get_template(LIST_ROW_TEMPLATE)
    rows = pagecache.list_rows(page.items, lambda message: row.render({"message": message}))
    template = LIST_TEMPLATE + ("#message-list" if fragment_only else "")
    html = render_to_string(template, {"page": page, "rows": rows, "before": before, "signed_in": signed_in})
    expiries = [message.lease_expires_at.timestamp() for message in page.items if message.lease_expires_at]
    return html, min(expiries, default=None)


@require_GET
@shows_domain_errors
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.message_get(message_id=message_id)
    buttons = {
        "offers_edit": permissions.offers_edit(request.user, protected=message.protected),
        "may_delete": permissions.may_delete(request.user, author_id=message.author_id, protected=message.protected),
    }

    def article_html() -> str:
        body = selectors.message_body(message)
        return render_to_string(ARTICLE_TEMPLATE, {"message": message, "body": body, **buttons})

    # The row holds everything the article shows but the body, which its version names.
    article = pagecache.article((message, *buttons.values()), article_html)
    return board_page(request, title=message.subject, content=article)


def board_page(request: HttpRequest, *, title: str, content: str) -> HttpResponse:
    """Render the layout (templates/base.html) around a page's content, kept whole for visitors."""
    context = {"page_title": title, "page_content": content}
    # len() reads the notices waiting without marking them shown.
    if request.user.is_authenticated or len(flash.get_messages(request)):
        return render(request, "base.html", context)
    key = (title, content, request.get_full_path())
    return HttpResponse(pagecache.visitor_page(key, lambda: render_to_string("base.html", context, request)))


@login_required
@require_http_methods(["GET", "POST"])
def message_create(request: HttpRequest) -> HttpResponse:
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ratelimits.limit_user("post_user", request.user)
            message = services.message_create(
                author=request.user, subject=form.cleaned_data["subject"], body=form.cleaned_data["body"]
            )
        except InvalidInput as error:
            form.add_error(error.field, error.detail)
        except RateLimited as limited:
            form.add_error(None, f"Your message was not posted. {limited.detail} Your text is kept below.")
            return retry_after(render(request, "messages_app/message_form.html", {"form": form}, status=429), limited)
        else:
            flash.success(request, "Your message is posted.")
            return redirect("messages_app:message-detail", message_id=message.pk)
    return render(request, "messages_app/message_form.html", {"form": form})


def _edit_context(message, form, *, lease_mode: str, lease=None, **extra) -> dict:
    return {
        "message": message,
        "form": form,
        "lease_mode": lease_mode,
        "lease": lease,
        "renew_seconds": max(1, settings.MESSAGEBOARD_LEASE_SECONDS // 4),
        "idle_seconds": settings.MESSAGEBOARD_IDLE_SECONDS,
        "poll_seconds": WAIT_POLL_SECONDS,
        **extra,
    }


def _edit_page_or_wait(
    request: HttpRequest, message_id: int, *, kept: dict | None = None, notice: str = "", status: int = 200
):
    """Open the editor (the form, with kept text if any), or show who holds the lease or why it is refused."""
    try:
        opened = editing.message_edit_open(message_id=message_id, user=request.user)
    except LeaseHeld as held:
        message = selectors.message_get(message_id=message_id)
        context = _edit_context(message, None, lease_mode="waiting", lease=held, kept=kept, notice=notice)
        return render(request, EDIT_TEMPLATE, context, status=status)
    except (TooManyLeases, LeaseCooldown) as refused:
        message = selectors.message_get(message_id=message_id)
        held = refused.held if isinstance(refused, TooManyLeases) else []
        context = _edit_context(
            message, None, lease_mode="refused", refusal=refused.detail, held=held, kept=kept, notice=notice
        )
        if isinstance(refused, TooManyLeases):
            return render(request, EDIT_TEMPLATE, context, status=429)
        response = render(request, EDIT_TEMPLATE, context, status=403)
        response["Retry-After"] = str(refused.retry_after)
        return response
    message = opened.message
    initial = {
        "subject": message.subject,
        "body": opened.body,
        "base_version": message.version,
        "lease_token": opened.lease.token,
    }
    if kept:
        initial.update(subject=kept["subject"], body=kept["body"])
    form = MessageEditForm(initial=initial)
    context = _edit_context(
        message,
        form,
        lease_mode="holding",
        lease=opened.lease,
        notice=notice,
        current_body=opened.body if kept and kept["body"] != opened.body else None,
    )
    return render(request, EDIT_TEMPLATE, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@shows_domain_errors
def message_edit(request: HttpRequest, message_id: int) -> HttpResponse:
    if request.method == "GET":
        ratelimits.limit_user("lease_user", request.user, message_id=message_id)
        return _edit_page_or_wait(request, message_id)

    form = MessageEditForm(request.POST)
    kept = {"subject": request.POST.get("subject", ""), "body": request.POST.get("body", "")}
    if request.POST.get("intent") == "resume":
        try:
            ratelimits.limit_user("lease_user", request.user, message_id=message_id)
        except (RateLimited, MessageGone, MessageNotFound, NotAllowed) as error:
            return _error_page(request, error, kept=kept, message_id=message_id)
        return _edit_page_or_wait(request, message_id, kept=kept)
    if not form.is_valid():
        message = selectors.message_get(message_id=message_id)
        if form.has_error("base_version") or form.has_error("lease_token"):
            # The template shows no errors of hidden fields: say what is wrong where it shows.
            form.add_error(None, STALE_EDIT_FORM)
        lease_token = form.cleaned_data.get("lease_token") if hasattr(form, "cleaned_data") else None
        return render(
            request,
            EDIT_TEMPLATE,
            _edit_context(message, form, lease_mode="holding" if lease_token else "lost"),
            status=400,
        )
    data = form.cleaned_data
    kept = {"subject": data["subject"], "body": data["body"]}
    try:
        ratelimits.limit_user("save_user", request.user, message_id=message_id)
        saved = editing.message_edit_save(
            message_id=message_id,
            user=request.user,
            base_version=data["base_version"],
            lease_token=data["lease_token"],
            subject=data["subject"],
            body=data["body"],
            release_lease=True,
        )
    except (VersionConflict, LeaseLost, LeaseHeld) as refused:
        notice = f"Your save was refused. {refused.detail} Your text is kept below."
        holder = selectors.message_lease(message_id=message_id)
        if holder is not None and holder.holder == request.user.get_username():
            # The user's other tab holds the lease: taking it back here unasked would make
            # that tab's next save fail in turn. Offer it as a choice instead.
            message = selectors.message_get(message_id=message_id)
            context = _edit_context(message, None, lease_mode="elsewhere", lease=holder, kept=kept, notice=notice)
            return render(request, EDIT_TEMPLATE, context, status=409)
        return _edit_page_or_wait(request, message_id, kept=kept, notice=notice, status=409)
    except InvalidInput as error:
        form.add_error(error.field, error.detail)
        message = selectors.message_get(message_id=message_id)
        return render(request, EDIT_TEMPLATE, _edit_context(message, form, lease_mode="holding"), status=400)
    except RateLimited as limited:
        # Nothing was written and the lease is still held: the same form saves once the wait is over.
        message = selectors.message_get(message_id=message_id)
        notice = f"Your save was refused. {limited.detail} Your text is kept below."
        context = _edit_context(message, form, lease_mode="holding", notice=notice)
        return retry_after(render(request, EDIT_TEMPLATE, context, status=429), limited)
    except (MessageGone, MessageNotFound, NotAllowed) as error:
        # NotAllowed: the message was protected while the member edited it.
        return _error_page(request, error, kept=kept, message_id=message_id)
    flash.success(request, f"Saved: this is now version {saved.version}.")
    return redirect("messages_app:message-detail", message_id=message_id)


@require_GET
@shows_domain_errors
def lease_status(request: HttpRequest, message_id: int) -> HttpResponse:
    """Tell a waiting editor whether the lease is still held (polled by HTMX)."""
    holder = selectors.message_lease(message_id=message_id)
    context = {
        "message_id": message_id,
        "lease_mode": "waiting" if holder else "free",
        "lease": holder,
        "poll_seconds": WAIT_POLL_SECONDS,
    }
    return render(request, f"{EDIT_TEMPLATE}#lease-status", context)


@login_required
@require_POST
@shows_domain_errors
def lease_renew(request: HttpRequest, message_id: int) -> HttpResponse:
    """Extend the editor's lease (the edit page's heartbeat)."""
    context = {"message_id": message_id}
    try:
        grant = editing.message_lease_renew(
            message_id=message_id, user=request.user, token=request.POST.get("lease_token", "")
        )
    except LeaseLost as lost:
        context.update(lease_mode="lost", lost_detail=lost.detail)
    else:
        context.update(lease_mode="holding", lease=grant)
    return render(request, f"{EDIT_TEMPLATE}#lease-status", context)


@login_required
@require_POST
@shows_domain_errors
def lease_release(request: HttpRequest, message_id: int) -> HttpResponse:
    """Give up the editor's lease: Cancel, or the page being closed (sendBeacon)."""
    token = request.POST.get("lease_token", "")
    if token:
        # Already gone (expired, taken over): releasing it is done either way.
        with contextlib.suppress(LeaseLost):
            editing.message_lease_release(message_id=message_id, user=request.user, token=token)
    if request.POST.get("beacon"):
        return HttpResponse(status=204)
    flash.info(request, "Editing cancelled; nothing was changed.")
    detail_url = reverse("messages_app:message-detail", args=[message_id])
    if request.htmx:
        return HttpResponseClientRedirect(detail_url)
    return redirect(detail_url)


@login_required
@require_http_methods(["GET", "POST"])
@shows_domain_errors
def message_delete(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.message_get(message_id=message_id)
    if request.method == "POST":
        try:
            services.message_delete(message_id=message_id, user=request.user)
        except LeaseHeld as held:
            flash.error(request, f"The message was not deleted: {held.detail}")
            return redirect("messages_app:message-detail", message_id=message_id)
        flash.success(request, f"“{message.subject}” is deleted. Its author or a moderator can restore it.")
        return redirect("messages_app:message-list")
    permissions.ensure_may_delete(request.user, author_id=message.author_id, protected=message.protected)
    return render(request, "messages_app/message_delete.html", {"message": message})


@login_required
@require_POST
@shows_domain_errors
def message_restore(request: HttpRequest, message_id: int) -> HttpResponse:
    services.message_restore(message_id=message_id, user=request.user)
    flash.success(request, "The message is restored.")
    return redirect("messages_app:message-detail", message_id=message_id)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("messages_app:message-list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # Counted once the form is valid, before the password is hashed: only an account
            # that would be made uses up the address's allowance.
            ratelimits.limit_address("signup_ip", request)
        except RateLimited as limited:
            return rate_limited_page(request, limited)
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, f"Welcome, {user.get_username()}!")
        return redirect("messages_app:message-list")
    return render(request, "registration/signup.html", {"form": form})
