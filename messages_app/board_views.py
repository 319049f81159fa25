"""Pages about who may edit: a message's named editors, chosen by its author or a moderator."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from messages_app import boards, permissions, ratelimits, selectors
from messages_app.errors import InvalidInput, RateLimited
from messages_app.views import rate_limited_page, shows_domain_errors

EDITORS_TEMPLATE = "messages_app/message_editors.html"


def _names(raw: str) -> list[str]:
    return [name.strip() for name in raw.replace("\n", ",").split(",") if name.strip()]


@login_required
@require_http_methods(["GET", "POST"])
@shows_domain_errors
def message_editors(request: HttpRequest, message_id: int) -> HttpResponse:
    """Show and change who may edit a message: empty fields let whoever the board allows edit."""
    message = selectors.message_get(message_id=message_id, viewer=request.user)
    permissions.ensure_may_set_editors(request.user, message)
    current = boards.editors_of(message_id)
    context = {
        "message": message,
        "users": ", ".join(current.users),
        "groups": ", ".join(current.groups),
        "error": None,
    }
    if request.method == "POST":
        users, groups = request.POST.get("users", ""), request.POST.get("groups", "")
        try:
            ratelimits.limit_user("save_user", request.user)
            saved = boards.message_editors_set(
                message_id=message_id, user=request.user, users=_names(users), groups=_names(groups)
            )
        except InvalidInput as error:
            # What was typed stays in the form, with what is wrong with it.
            context.update(users=users, groups=groups, error=error.detail)
            return render(request, EDITORS_TEMPLATE, context, status=422)
        except RateLimited as limited:
            return rate_limited_page(request, limited, kept=None)
        if saved.users or saved.groups:
            flash.success(request, "Only the editors you named (and moderators) can edit this message now.")
        else:
            flash.success(request, "Anyone the board lets edit can edit this message again.")
        return redirect("messages_app:message-detail", message_id=message_id)
    return render(request, EDITORS_TEMPLATE, context)
