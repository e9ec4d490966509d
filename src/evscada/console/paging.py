"""Server-side paging for the console's long lists (stations, tokens, vehicles, users, logs): the window and the
filters live in the query string, so a page is a bookmark and works without JS, and a browser never receives
thousands of rows at once."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_FILTER = 100  # characters of a search box or filter, as the API takes them
MAX_OFFSET = 2**31


@dataclass(frozen=True, slots=True)
class Paging:
    """Where a list page stands: its search, its window and (when counted) how many rows match."""

    path: str
    filters: dict[str, str]  # the search and filters, carried into every link of the page
    limit: int
    offset: int
    total: int | None = None  # None: not counted (logs), `more` says whether a next page exists
    more: bool = False
    shown: int = 0

    def url(self, offset: int) -> str:
        query = {k: v for k, v in self.filters.items() if v}
        if self.limit != DEFAULT_PAGE_SIZE:
            query["limit"] = str(self.limit)
        if offset:
            query["offset"] = str(offset)
        return f"{self.path}?{urlencode(query)}" if query else self.path

    @property
    def here(self) -> str:
        return self.url(self.offset)

    @property
    def previous(self) -> str | None:
        return self.url(max(0, self.offset - self.limit)) if self.offset > 0 else None

    @property
    def next(self) -> str | None:
        has_more = self.offset + self.limit < self.total if self.total is not None else self.more
        return self.url(self.offset + self.limit) if has_more else None

    @property
    def last(self) -> str | None:
        if self.total is None or self.total <= self.limit:
            return None
        return self.url((self.total - 1) // self.limit * self.limit)

    @property
    def first_row(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last_row(self) -> int:
        return self.offset + self.shown


def read_paging(request: Request, path: str, *filter_names: str) -> tuple[Paging, list[str]]:
    """The page's window and filters from its query string, with a note for each value that had to be replaced:
    a hand-edited link shows the first page and says why, rather than an error page."""
    query = request.query_params
    problems: list[str] = []
    filters = {name: query.get(name, "").strip()[:MAX_FILTER] for name in filter_names}
    limit = DEFAULT_PAGE_SIZE
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError:
            limit = 0
        if limit not in PAGE_SIZES:
            problems.append(f"rows per page is one of {', '.join(map(str, PAGE_SIZES))}; showing {DEFAULT_PAGE_SIZE}")
            limit = DEFAULT_PAGE_SIZE
    offset = 0
    if query.get("offset"):
        try:
            offset = int(query["offset"])
        except ValueError:
            offset = -1
        if not 0 <= offset <= MAX_OFFSET:
            problems.append("offset is a row number from 0; showing the first page")
            offset = 0
    return Paging(path=path, filters=filters, limit=limit, offset=offset), problems


def counted(paging: Paging, total: int, shown: int) -> Paging:
    return Paging(paging.path, paging.filters, paging.limit, paging.offset, total=total, shown=shown)


def uncounted(paging: Paging, fetched: int) -> Paging:
    """A log page fetched one row more than it shows: that row only says a next page exists."""
    shown = min(fetched, paging.limit)
    return Paging(paging.path, paging.filters, paging.limit, paging.offset, more=fetched > paging.limit, shown=shown)
