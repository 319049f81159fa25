"""Server-rendered pages and their HTMX fragments."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from messages_app import boards, markup, pagecache, permissions, ratelimits, selectors, services
from messages_app.errors import (
    BoardNotFound,
    BodyTooLarge,
    DomainError,
    InvalidInput,
    LeaseHeld,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    RevisionNotFound,
)
from messages_app.forms import NewMessageForm, SignupForm

LIST_TEMPLATE = "messages_app/message_list.html"
CHANGES_TEMPLATE = "messages_app/message_changes.html"
LIST_ROW_TEMPLATE = "messages_app/message_list_row.html"
ARTICLE_TEMPLATE = "messages_app/message_article.html"
BOARDS_TEMPLATE = "messages_app/board_index.html"


def _error_page(request: HttpRequest, error: DomainError, *, kept: dict | None = None, message_id: int | None = None):
    """Render the page a person sees for a domain error: the one mapping for pages."""
    if isinstance(error, (MessageNotFound, RevisionNotFound, BoardNotFound)):
        return render(request, "404.html", {"detail": error.detail}, status=404)
    if isinstance(error, MessageGone):
        can_restore = False
        if message_id is not None and request.user.is_authenticated:
            try:
                state = selectors.message_state(message_id=message_id, viewer=request.user, include_deleted=True)
            except MessageNotFound:
                return render(request, "404.html", {"detail": MessageNotFound.message}, status=404)
            can_restore = permissions.may_restore(
                request.user, board_id=state.board_id, author_id=state.author_id, deleted_by_id=state.deleted_by_id
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
        except (MessageNotFound, RevisionNotFound, BoardNotFound, MessageGone, NotAllowed, RateLimited) as error:
            return _error_page(request, error, message_id=kwargs.get("message_id"))

    return wrapper


def positive_whole_number(raw: str | None, *, maximum: int | None = None) -> int | None:
    """Return the whole number from 1 (to ``maximum``) a form or query sent, or None for anything else."""
    # isdigit() alone also accepts digits int() refuses, such as "²".
    if not raw or not (raw.isascii() and raw.isdigit()):
        return None
    if maximum is not None and len(raw) > len(str(maximum)):
        return None  # not worth converting: far too large
    value = int(raw)
    return value if value >= 1 and (maximum is None or value <= maximum) else None


def cursor_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    value = positive_whole_number(raw)
    if value is None:
        raise ValueError(f"'{name}' must be a positive whole number.")
    return value


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", {"detail": "There is no page at this address."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, with the request's id for the person to quote (the log line has the same).

    Rendered from the template alone, without context processors: whatever failed (the
    database, the cache) may be what they would call.
    """
    template = get_template("500.html")
    return HttpResponse(template.render({"request_id": getattr(request, "request_id", "")}), status=500)


@require_GET
def board_index(request: HttpRequest) -> HttpResponse:
    """The front page: the boards the person may read, with their counters and newest message.

    Kept as the list is (pagecache.py): every post, delete, restore or move moves the list
    generation, and the boards one reads and may post to are part of the key.
    """
    list_generation, access_generation = pagecache.list_generations()
    readable = permissions.readable_boards(request.user, generation=access_generation)
    postable = tuple(board_id for board_id in readable if permissions.may_post(request.user, board_id))
    signed_in = request.user.is_authenticated

    def render_boards() -> tuple[str, None]:
        found = boards.board_list(viewer=request.user, generation=access_generation)
        return render_to_string(BOARDS_TEMPLATE, {"boards": found, "signed_in": signed_in}), None

    key = ("boards", readable, postable, signed_in)
    html = pagecache.list_page(key, render_boards, generation=list_generation)
    return board_page(request, title="Boards", content=html)


@require_GET
@vary_on_headers("HX-Request")
def message_list(request: HttpRequest) -> HttpResponse:
    """Every message the person may read, newest first."""
    return _list_response(request, board=None)


@require_GET
@vary_on_headers("HX-Request")
@shows_domain_errors
def board_messages(request: HttpRequest, slug: str) -> HttpResponse:
    """One board's messages, newest first (404 for a board the person may not read, as for none)."""
    generations = pagecache.list_generations()
    board = permissions.board_named(slug, generation=generations[1])
    if board is None or not permissions.may_read(request.user, board.id, generation=generations[1]):
        raise BoardNotFound()
    return _list_response(request, board=board, generations=generations)


def _list_response(request: HttpRequest, *, board, generations: tuple[int, int] | None = None) -> HttpResponse:
    try:
        before = cursor_param(request, "before")
    except ValueError as error:
        return render(request, "400.html", {"detail": str(error)}, status=400)
    # What makes one list page differ from another, besides the list generation (pagecache.py):
    # the boards the person reads (the same for everyone with the same groups) and may post to.
    signed_in, fragment_only = request.user.is_authenticated, bool(request.htmx)
    # One read for both numbers the kept page depends on (pagecache.list_generations).
    list_generation, access_generation = generations or pagecache.list_generations()
    readable = permissions.readable_boards(request.user, generation=access_generation)
    board_id = board.pk if board is not None else None
    may_post = permissions.may_post(request.user, board_id) if board is not None else signed_in
    key = (readable, board_id, may_post, before, signed_in, fragment_only)
    html = pagecache.list_page(
        key,
        lambda: _list_html(
            request.user,
            board,
            before,
            signed_in=signed_in,
            may_post=may_post,
            fragment_only=fragment_only,
            generation=access_generation,
        ),
        generation=list_generation,
    )
    if fragment_only:
        return HttpResponse(html)
    return board_page(request, title=board.name if board is not None else "Messages", content=html)


def _list_html(
    viewer, board, before: int | None, *, signed_in: bool, may_post: bool, fragment_only: bool, generation: int
) -> tuple[str, float | None]:
    """Render a list page (or its section alone) and say when its first lease runs out."""
    page = selectors.message_list_page(
        viewer=viewer, before=before, board_id=board.pk if board is not None else None, generation=generation
    )
    row = get_template(LIST_ROW_TEMPLATE)
    show_board = board is None
    rows = pagecache.list_rows(
        [(message, show_board) for message in page.items],
        lambda item: row.render({"message": item[0], "show_board": item[1]}),
    )
    template = LIST_TEMPLATE + ("#message-list" if fragment_only else "")
    context = {
        "page": page,
        "rows": rows,
        "before": before,
        "signed_in": signed_in,
        "board": board,
        "may_post": may_post,
        "show_board": show_board,
    }
    html = render_to_string(template, context)
    expiries = [message.lease_expires_at.timestamp() for message in page.items if message.lease_expires_at]
    return html, min(expiries, default=None)


@require_GET
@shows_domain_errors
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    row = selectors.message_fetch(message_id=message_id)
    if not _plain_visitor(request):
        title, article = _message_article(request, row)
        return board_page(request, title=title, content=article)
    # Most readers: their whole page is kept under the row it was made from, which holds
    # everything it shows (pagecache.visitor_message_page), so a kept one is sent as it is.
    # A refused row (missing, deleted, private) raises in the rendering and keeps nothing.
    html = pagecache.visitor_message_page(
        (row, request.get_full_path()),
        lambda: _visitor_page_html(request, *_message_article(request, row)),
    )
    return HttpResponse(html)


def _message_article(request: HttpRequest, row: tuple | None) -> tuple[str, str]:
    """Return the message page's title and article for the reader, raising what message_from_row raises."""
    message = selectors.message_from_row(row, viewer=request.user)
    buttons = {
        "offers_edit": permissions.offers_edit(request.user, message),
        "may_delete": permissions.may_delete(
            request.user, board_id=message.board_id, author_id=message.author_id, protected=message.protected
        ),
        "may_set_editors": request.user.is_authenticated and permissions.may_set_editors(request.user, message),
    }

    def article_html() -> str:
        body = markup.version_html(message.body_key, selectors.message_body(message))
        context = {"message": message, "body": body, "changes_poll_seconds": settings.MESSAGEBOARD_CHANGES_POLL_SECONDS}
        return render_to_string(ARTICLE_TEMPLATE, {**context, **buttons})

    # The row holds everything the article shows but the body, which its version names.
    return message.subject, pagecache.article((message, *buttons.values()), article_html)


@require_GET
def message_changes(request: HttpRequest, message_id: int) -> HttpResponse:
    """Tell a reader whether the message moved on from the version they read (polled by the message page).

    Unchanged, the answer is the same placeholder under the same ETag, so the browser's own
    revalidation makes it a 304 with no body: a reader left on a page costs one indexed read.
    """
    try:
        seen = cursor_param(request, "seen")
    except ValueError as error:
        return render(request, "400.html", {"detail": str(error)}, status=400)
    try:
        state = selectors.message_state(message_id=message_id, viewer=request.user)
    except MessageNotFound:
        return render(request, "404.html", {"detail": MessageNotFound.message}, status=404)
    except MessageGone:
        state = None
    etag = f'"{seen}-{state.version if state else "gone"}"'
    # The usual answer, checked before anything is rendered.
    response = get_conditional_response(request, etag=etag)
    if response is None:
        if state is not None and state.version == seen:
            poll_seconds = settings.MESSAGEBOARD_CHANGES_POLL_SECONDS
            context = {"message_id": message_id, "seen": seen, "poll_seconds": poll_seconds}
        else:
            version = state.version if state else None
            context = {"message_id": message_id, "changed": True, "gone": state is None, "version": version}
        response = HttpResponse(render_to_string(CHANGES_TEMPLATE, context))
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


def board_page(request: HttpRequest, *, title: str, content: str) -> HttpResponse:
    """Render the layout (templates/base.html) around a page's content, kept whole for visitors."""
    if not _plain_visitor(request):
        return render(request, "base.html", {"page_title": title, "page_content": content})
    return HttpResponse(_visitor_page_html(request, title=title, content=content))


def _plain_visitor(request: HttpRequest) -> bool:
    """Return whether the page is for someone signed out with no notice waiting: the layout is the same for all."""
    # len() reads the notices waiting without marking them shown.
    return not request.user.is_authenticated and not len(flash.get_messages(request))


def _visitor_page_html(request: HttpRequest, title: str, content: str) -> str:
    context = {"page_title": title, "page_content": content}
    key = (title, content, request.get_full_path())
    return pagecache.visitor_page(key, lambda: render_to_string("base.html", context, request))


@login_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """Render the editor's text as its message page would show it (the form's Preview, asked by HTMX)."""
    text = request.POST.get("body", "")
    status = 200
    try:
        ratelimits.limit_user("preview_user", request.user)
        if len(text.encode()) > settings.MESSAGEBOARD_MAX_BODY_BYTES:
            raise BodyTooLarge(settings.MESSAGEBOARD_MAX_BODY_BYTES)
        context = {"html": markup.render_markdown(text) if text.strip() else ""}
    except (RateLimited, BodyTooLarge) as refused:
        status = 429 if isinstance(refused, RateLimited) else 413
        context = {"refusal": refused.detail}
    return render(request, "messages_app/markdown_preview.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def message_create(request: HttpRequest) -> HttpResponse:
    choices = boards.postable_boards(user=request.user)
    if not choices:
        detail = "There is no board you may post to."
        return render(request, "403.html", {"detail": detail}, status=403)
    initial = request.GET.get("board") or settings.MESSAGEBOARD_DEFAULT_BOARD
    form = NewMessageForm(request.POST or None, boards=choices, initial={"board": initial})
    if request.method == "POST" and form.is_valid():
        try:
            ratelimits.limit_user("post_user", request.user)
            message = services.message_create(
                author=request.user,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                board_slug=form.cleaned_data["board"] or None,
            )
        except InvalidInput as error:
            form.add_error(error.field, error.detail)
        except (NotAllowed, BoardNotFound) as error:
            form.add_error("board", f"{error.detail} Your text is kept below: pick another board.")
            status = 404 if isinstance(error, BoardNotFound) else 403
            return render(request, "messages_app/message_form.html", {"form": form}, status=status)
        except RateLimited as limited:
            form.add_error(None, f"Your message was not posted. {limited.detail} Your text is kept below.")
            return retry_after(render(request, "messages_app/message_form.html", {"form": form}, status=429), limited)
        else:
            flash.success(request, "Your message is posted.")
            return redirect("messages_app:message-detail", message_id=message.pk)
    return render(request, "messages_app/message_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
@shows_domain_errors
def message_delete(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.message_get(message_id=message_id, viewer=request.user)
    if request.method == "POST":
        try:
            services.message_delete(message_id=message_id, user=request.user)
        except LeaseHeld as held:
            flash.error(request, f"The message was not deleted: {held.detail}")
            return redirect("messages_app:message-detail", message_id=message_id)
        flash.success(request, f"“{message.subject}” is deleted. Its author or a moderator can restore it.")
        return redirect("messages_app:message-list")
    permissions.ensure_may_delete(
        request.user, board_id=message.board_id, author_id=message.author_id, protected=message.protected
    )
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
