"""The JSON conventions of every response: RFC 3339 UTC times with milliseconds, nulls and omits.

Required fields are always present, `null` when they have no value yet;
optional fields are omitted when absent. Models get this by being built
with only the optional fields that have a value, and serialized with
`exclude_unset`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, TypeAdapter, WithJsonSchema
from starlette.responses import Response


def rfc3339(value: datetime) -> str:
    """`2027-01-01T05:00:00.000Z`: UTC, milliseconds, `Z`."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # without its "+00:00"


Timestamp = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# An exact decimal as a JSON number. Amounts carry at most 15 significant digits (intake
# enforces it), so the number a client reads back is the very same decimal.
Number = Annotated[
    Decimal,
    PlainSerializer(float, return_type=float),
    WithJsonSchema({"type": "number"}),
]


def days(duration: timedelta) -> float:
    """A duration in days, to the microsecond: what the vendor's `…Duration` numbers count."""
    return round(duration / timedelta(days=1), 11)


def set_present(view: BaseModel, **optional: Any) -> None:
    """Set the optional fields that have a value, so `json_response` omits the absent ones."""
    for name, value in optional.items():
        if value is not None:
            setattr(view, name, value)


class Schema(BaseModel):
    """A response or request body: camelCase as in the spec, and no unknown fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_OBJECT = TypeAdapter(dict[str, Any])


@functools.cache
def _items_of(model: type[BaseModel]) -> TypeAdapter[Sequence[BaseModel]]:
    """The serializer of a list of `model`s: one call for a whole page."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def json_response(content: BaseModel | Sequence[BaseModel] | dict[str, Any],
                  status_code: int = 200) -> Response:
    """A JSON response following the null and omit rules."""
    if isinstance(content, BaseModel):
        body = content.model_dump_json(exclude_unset=True, by_alias=True).encode()
    elif isinstance(content, dict):
        body = _OBJECT.dump_json(content)
    elif len({type(item) for item in content}) == 1:
        body = _items_of(type(content[0])).dump_json(content, exclude_unset=True, by_alias=True)
    else:
        body = b"[" + b",".join(
            item.model_dump_json(exclude_unset=True, by_alias=True).encode() for item in content
        ) + b"]"
    return Response(body, status_code=status_code, media_type="application/json")
