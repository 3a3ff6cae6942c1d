"""The one pagination helper: `offset`, `count`, `extended` and `listCompleted`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from policyjobs.api.conventions import json_response

T = TypeVar("T")
DEFAULT_COUNT = 100
MAX_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a list a request asks for."""

    offset: int = 0
    count: int = DEFAULT_COUNT
    extended: bool = True

    @property
    def probe(self) -> int:
        """How many rows to fetch: one more than the page, to learn if the list goes on."""
        return self.count + 1


def _as_written(value: object) -> object:
    """A number in a query as a person writes one: ASCII digits, perhaps a minus. Python's
    `int`, which pydantic falls back on, also takes `1_0`, `+5` and ` 5`."""
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise PydanticCustomError("whole_number", "must be a whole number, in digits")
    return value


_INTEGER = re.compile(r"-?[0-9]+")
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip."),
                   BeforeValidator(_as_written)]
Count = Annotated[int, Query(ge=1, le=MAX_COUNT, description="Items per page."),
                  BeforeValidator(_as_written)]


async def page(
    offset: Offset = 0,
    count: Count = DEFAULT_COUNT,
    extended: Annotated[bool, Query(description="When false, returns a bare array.")] = True,
) -> Page:
    """The page a list request asks for, from its query string."""
    return Page(offset, count, extended)


async def short_page(offset: Offset = 0, count: Count = DEFAULT_COUNT) -> Page:
    """The page of a list endpoint that has no `extended` parameter."""
    return Page(offset, count)


def list_response(rows: Sequence[T], page_: Page, item: Callable[[T], BaseModel]) -> Response:
    """`{"listCompleted", "items"}`, or the bare array when `extended=false`.

    `rows` holds up to `page_.probe` rows from `page_.offset` on; the extra row, if
    present, only says that the list goes on.
    """
    items = [item(row) for row in rows[: page_.count]]
    if not page_.extended:
        return json_response(items)
    completed = b"true" if len(rows) <= page_.count else b"false"
    body = json_response(items).body
    return Response(b'{"listCompleted":' + completed + b',"items":' + bytes(body) + b"}",
                    media_type="application/json")
