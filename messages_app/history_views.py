"""The history pages: every version of a message, one old version (and restoring it), and diffs."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from messages_app import editing, history_selectors, markup, permissions, ratelimits, selectors
from messages_app.errors import (
    AlreadyCurrent,
    InvalidInput,
    LeaseHeld,
    LeaseLost,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    VersionConflict,
)
from messages_app.textcache import TextCache
from messages_app.views import cursor_param, rate_limited_page, retry_after, shows_domain_errors

DIFF_TEMPLATE = "messages_app/message_diff.html"
# Versions never change, so neither does the rendered comparison of two of them.
DIFF_CHANGES_HTML = TextCache(prefix="diff:", budget_setting="MESSAGEBOARD_DIFF_CACHE_BYTES", timeout=7 * 24 * 3600)


@require_GET
@shows_domain_errors
def message_history(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        before = cursor_param(request, "before")
    except ValueError as error:
        return render(request, "400.html", {"detail": str(error)}, status=400)
    page = history_selectors.revision_list(message_id=message_id, viewer=request.user, before=before)
    if not page.items and before is None:
        raise MessageNotFound()
    context = {"message_id": message_id, "page": page, "before": before}
    return render(request, "messages_app/message_history.html", context)


@require_GET
@shows_domain_errors
def revision_detail(request: HttpRequest, message_id: int, version: int) -> HttpResponse:
    return _revision_page(request, message_id, version)


def _revision_page(request: HttpRequest, message_id: int, version: int, *, notice: str = "", status: int = 200):
    revision = history_selectors.revision_get(message_id=message_id, version=version, viewer=request.user)
    body = markup.version_html(revision.body_key, history_selectors.revision_body(revision))
    context = {
        "message_id": message_id,
        "revision": revision,
        "body": body,
        "notice": notice,
        "offers_restore": permissions.may_edit(request.user, history_selectors.revision_message_facts(revision)),
    }
    return render(request, "messages_app/revision_detail.html", context, status=status)


@login_required
@require_POST
@shows_domain_errors
def revision_restore(request: HttpRequest, message_id: int, version: int) -> HttpResponse:
    """Make an old version current again (a new version), by the API's lease-less PUT rules."""
    try:
        base_version = int(request.POST.get("base_version", ""))
    except ValueError:
        notice = "This form lacks the version it was opened at. Reload the page and restore again."
        return _revision_page(request, message_id, version, notice=notice, status=400)
    try:
        ratelimits.limit_user("save_user", request.user, message_id=message_id)
        saved = editing.message_revert(
            message_id=message_id, user=request.user, version=version, base_version=base_version, lease_token=None
        )
    except LeaseHeld as held:
        notice = (
            f"Version {version} was not restored: {held.detail} "
            "A version can be restored only while nobody is editing; try again once the message is free."
        )
        return _revision_page(request, message_id, version, notice=notice, status=409)
    except (VersionConflict, LeaseLost) as refused:
        notice = f"Version {version} was not restored. {refused.detail} Look at the current version first."
        return _revision_page(request, message_id, version, notice=notice, status=409)
    except RateLimited as limited:
        notice = f"Version {version} was not restored: {limited.detail}"
        return retry_after(_revision_page(request, message_id, version, notice=notice, status=429), limited)
    except (AlreadyCurrent, NotAllowed, InvalidInput) as refused:
        status = 403 if isinstance(refused, NotAllowed) else 400
        notice = f"Version {version} was not restored: {refused.detail}"
        return _revision_page(request, message_id, version, notice=notice, status=status)
    flash.success(request, f"Version {version} is restored: it is now version {saved.version}.")
    return redirect("messages_app:message-detail", message_id=message_id)


@require_GET
@shows_domain_errors
def message_diff_pick(request: HttpRequest, message_id: int) -> HttpResponse:
    """Send the history page's "compare" form (?a=&b=) to the diff's address."""
    # The message first, as every page about one: a private one is not found whatever is asked.
    selectors.message_must_be_visible(message_id, viewer=request.user)
    try:
        old, new = cursor_param(request, "a"), cursor_param(request, "b")
    except ValueError as error:
        return render(request, "400.html", {"detail": str(error)}, status=400)
    if old is None or new is None:
        detail = "Pick two versions to compare: one in the “from” column and one in the “to” column."
        return render(request, "400.html", {"detail": detail}, status=400)
    return redirect("messages_app:message-diff", message_id=message_id, old=old, new=new)


@require_GET
@shows_domain_errors
def message_diff(request: HttpRequest, message_id: int, old: int, new: int) -> HttpResponse:
    diff = history_selectors.revision_diff(message_id=message_id, old_version=old, new_version=new, viewer=request.user)
    changes_html = DIFF_CHANGES_HTML.get(diff.cache_key)
    if changes_html is None:
        # Only a diff not computed yet costs real work, so only those count against the limit:
        # a visitor walking pairs of versions of a long history cannot keep a worker busy.
        try:
            ratelimits.limit_address("diff_ip", request)
        except RateLimited as limited:
            return rate_limited_page(request, limited)
        changes = history_selectors.revision_changes(diff)
        changes_html = render_to_string(f"{DIFF_TEMPLATE}#changes", {"diff": diff, "changes": changes})
        DIFF_CHANGES_HTML.set(diff.cache_key, changes_html)
    # Our own template rendered it (escaped); the cache hands back a plain str.
    context = {"message_id": message_id, "diff": diff, "changes_html": mark_safe(changes_html)}
    return render(request, DIFF_TEMPLATE, context)
