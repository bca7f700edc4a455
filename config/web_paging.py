"""Keyset pagination for the staff web pages.

Lists over big tables (contacts, messages, scheduled messages, blacklists) page by id instead of
OFFSET + COUNT(*): each page is one indexed range read of `size + 1` rows, as fast on page 5,000 as
on page 1, and no page view counts a million rows. Pages link "newer"/"older" by cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlencode

from django.db.models import Model, QuerySet
from django.http import HttpRequest

DEFAULT_PAGE_SIZE: Final = 50
MAX_CURSOR: Final = 2**63 - 1

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: Sequence[T]
    next_url: str | None  # further along the order
    previous_url: str | None  # back towards the start


def _cursor(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 < value <= MAX_CURSOR else None


def _url(request: HttpRequest, **changes: Any) -> str:
    params = {key: value for key, value in request.GET.items() if key not in ("after", "before")}
    params.update(changes)
    return "?" + urlencode(params)


def keyset_page(
    request: HttpRequest, queryset: QuerySet[T], *, descending: bool = False, size: int = DEFAULT_PAGE_SIZE
) -> KeysetPage[T]:
    """One page of `queryset` ordered by id (ascending, or newest first with `descending`), from
    the `after` / `before` cursors of the request's query string."""
    after, before = _cursor(request, "after"), _cursor(request, "before")
    forward_order = "-id" if descending else "id"
    backward_order = "id" if descending else "-id"
    going_back = before is not None and after is None
    if going_back:
        bound = {"id__gt": before} if descending else {"id__lt": before}
        rows = list(queryset.filter(**bound).order_by(backward_order)[: size + 1])
        has_more_back = len(rows) > size
        items = list(reversed(rows[:size]))
        has_more_forward = True
    else:
        if after is not None:
            queryset = queryset.filter(**({"id__lt": after} if descending else {"id__gt": after}))
        rows = list(queryset.order_by(forward_order)[: size + 1])
        items = rows[:size]
        has_more_forward = len(rows) > size
        has_more_back = after is not None
    next_url = _url(request, after=items[-1].pk) if items and has_more_forward else None
    previous_url = _url(request, before=items[0].pk) if items and has_more_back else None
    return KeysetPage(items=items, next_url=next_url, previous_url=previous_url)


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    items: Sequence[T]
    number: int
    next_url: str | None
    previous_url: str | None


def offset_page(request: HttpRequest, queryset: QuerySet[T], *, size: int = DEFAULT_PAGE_SIZE) -> OffsetPage[T]:
    """A numbered page without COUNT(*): `size + 1` rows tell whether a next page exists. For lists
    whose order is not the id (scheduled messages by due date) and that stay small per account."""
    raw = request.GET.get("page", "1").strip()
    number = min(int(raw), 10_000) if raw.isdigit() and int(raw) > 0 else 1
    rows = list(queryset[(number - 1) * size : number * size + 1])
    params = {key: value for key, value in request.GET.items() if key != "page"}
    next_url = "?" + urlencode({**params, "page": number + 1}) if len(rows) > size else None
    previous_url = "?" + urlencode({**params, "page": number - 1}) if number > 1 else None
    return OffsetPage(items=rows[:size], number=number, next_url=next_url, previous_url=previous_url)
