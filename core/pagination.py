"""The API's page-number pagination, without a COUNT query when the first page tells it.

DRF's paginator counts every list before reading its page. When the first page is not
full, it already holds the whole list, so its length is the total. Most lists here fit
one page (a week's free slots, a patient's appointments, a clinician's agenda), so most
requests skip the count. Later pages, and a full first page, count as before.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework.pagination import PageNumberPagination


class CountSparingPaginator(Paginator):
    def page(self, number: Any) -> Page:
        if str(number) != "1" or self.orphans:
            return super().page(number)
        rows = list(self.object_list[: self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # fills the cached_property: no COUNT query
        return Page(rows, 1, self)


class DefaultPagination(PageNumberPagination):
    django_paginator_class = CountSparingPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
