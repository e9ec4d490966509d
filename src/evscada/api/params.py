"""One rule for every id, offset, EVSE number, time and text a client sends: out of range is a 422 naming the range.

Without it a value Python accepts but the database cannot hold (2^64, year 1, a time without its offset, a NUL
character on PostgreSQL) reached the storage layer and came back as a 500.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

ID_MAX = 2**63 - 1  # the database's keys are 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite)
INT32_MAX = 2**31 - 1  # OCPP's integer: EVSE and connector numbers
OFFSET_MAX = 2**31
FIRST_YEAR, LAST_YEAR = 1900, 2999
TIME_RULE = (
    f"must be a time with its UTC offset (e.g. 2026-12-06T00:00:00Z or +01:00) in the years {FIRST_YEAR} to {LAST_YEAR}"
)

Id = Annotated[int, Ge(1), Le(ID_MAX)]
"""A row's id: a site, vehicle, transaction, alarm, webhook, delivery, reservation or API key."""
Offset = Annotated[int, Ge(0), Le(OFFSET_MAX)]
EvseId = Annotated[int, Ge(1), Le(INT32_MAX)]
"""An EVSE or connector number (1.6: the connector)."""
EvseIdOrZero = Annotated[int, Ge(0), Le(INT32_MAX)]
"""The same, where 0 means the station as a whole (or: any)."""


def _within_range(value: datetime) -> datetime:
    if value.utcoffset() is None or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(TIME_RULE)
    return value


Time = Annotated[datetime, AfterValidator(_within_range)]
"""A point in time: offset required (a naive time is ambiguous), and within years every database can hold."""

_NUL = "\x00"
# A JSON string holds NUL only as the escape \u0000, not preceded by an odd number of backslashes (an escaped "\").
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def refuse_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL and SQLite would keep a different string: refuse it in any part of a request."""
    errors = _nul_outside_body(request)
    if _JSON_NUL.search(await request.body()):
        errors.append(_nul_error(("body",), None))
    if errors:
        raise RequestValidationError(errors)


async def refuse_nul_outside_body(request: Request) -> None:
    """As refuse_nul for the routes whose body is a stream (uploads) or absent (downloads): the path and the query."""
    if errors := _nul_outside_body(request):
        raise RequestValidationError(errors)


def _nul_outside_body(request: Request) -> list[dict[str, object]]:
    path: str = request.scope["path"]  # decoded: %00 is NUL here
    errors = [_nul_error(("path",), path)] if _NUL in path else []
    errors += [
        _nul_error(("query", name), value)
        for name, value in request.query_params.multi_items()
        if _NUL in name or _NUL in value
    ]
    return errors


def _nul_error(loc: tuple[str, ...], value: str | None) -> dict[str, object]:
    return {"type": "string_nul", "loc": loc, "msg": "may not contain NUL (\\u0000)", "input": value}
