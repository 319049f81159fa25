"""Change lists that never count their rows, so the admin stays fast at millions of messages.

Django's admin counts every list it shows (and every search result); here a page costs only
its own rows plus one, which is what UncountedAdmin wires into a ModelAdmin.
"""

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Paginator
from django.http import Http404
from django.utils.functional import cached_property

from messages_app import leases

from .access import ModeratorsOnly


class NoCountPaginator(Paginator):
    """A paginator that never counts: it fetches the asked-for page and one row more.

    Its count is the rows before that page plus the rows fetched, so the admin links every
    page up to this one, and the next page exactly when one exists. A COUNT(*) over a
    million messages (or every row a search matches) would cost more than the page itself.
    A page after the last one is not found (404).
    """

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, page_number=1) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.page_number = page_number

    @cached_property
    def _rows(self) -> list:
        offset = (self.page_number - 1) * self.per_page
        rows = list(self.object_list[offset : offset + self.per_page + 1])
        if not rows and self.page_number > 1:
            # Without a count, "no rows here" is the only sign of a page beyond the last.
            # Django's admin would take the page for the first (one page of results) or
            # redirect to "?e=1" (several).
            raise Http404(f"There is no page {self.page_number} of this list.")
        return rows

    @cached_property
    def count(self) -> int:
        return (self.page_number - 1) * self.per_page + len(self._rows)

    @property
    def more_follow(self) -> bool:
        """Whether rows exist beyond the fetched page (the count is then only a lower bound)."""
        return len(self._rows) > self.per_page

    def page(self, number):
        number = self.validate_number(number)
        if number != self.page_number:
            return super().page(number)
        return self._get_page(self._rows[: self.per_page], number, self)


class NoCountChangeList(ChangeList):
    def get_results(self, request) -> None:
        super().get_results(request)
        if not self.multi_page and not self.show_all:
            # A single page: the paginator fetched its rows already, and the queryset the
            # admin put in their place would fetch them a second time.
            self.result_list = self.paginator.page(1).object_list


class UncountedAdmin(ModeratorsOnly, admin.ModelAdmin):
    """A change list that stays fast at millions of rows: no COUNT(*), no "show all"."""

    show_full_result_count = False
    list_per_page = 100
    list_max_show_all = 0
    # The selection counter offers "select all N", and N is not counted.
    actions_selection_counter = False

    def get_changelist(self, request, **kwargs):
        return NoCountChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        raw = request.GET.get(PAGE_VAR, "1")
        page_number = int(raw) if raw.isascii() and raw.isdigit() else 0
        # A page whose rows would start past any integer the database takes as an OFFSET
        # crashed the query (500): it is as much no page as "abc", "0" or "-1".
        if page_number < 1 or not leases.fits_integer_column(page_number * per_page + 1):
            raise Http404(f"There is no page {raw!r} of this list.")
        return NoCountPaginator(queryset, per_page, orphans, allow_empty_first_page, page_number=page_number)
