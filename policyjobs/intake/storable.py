"""Which parts of an event's JSON a store cannot keep exactly, found in one walk before any
domain sees the event.

An event's JSON is stored as it came (a documents job keeps the whole event in its payload)
and its strings land in text columns. Each of these would fail there, on one store or both,
or be kept as something else:

- a NUL character, in a string or a key: PostgreSQL's text and jsonb hold none;
- a lone surrogate (`"\\ud800"`), in a string or a key: not Unicode text, so not UTF-8;
- an integer outside the signed 64-bit range: orjson writes none below it, nor past
  2**64 - 1, and one range that holds on both sides is the simpler promise;
- `NaN`, `Infinity`, or a number too large for a double (`1e400`): orjson writes `null`;
- objects and arrays nested more than `MAX_DEPTH` levels, the event being the first:
  orjson writes none nested past 254, and no event needs more than a few.
"""

from __future__ import annotations

import math
import re
from typing import Any

from policyjobs.exceptions import FieldProblem, field_path

MAX_DEPTH = 64
INT64 = range(-(2**63), 2**63)
# A NUL is found by `in`, a lone surrogate by this, and only in text that is not ASCII: most
# text is ASCII, and a search costs several times the two plain checks.
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels of objects and arrays"


def unkeepable(event: dict[str, Any], where: str) -> list[FieldProblem]:
    """Every place in `event` a store cannot keep, named under `where` (`events[2]`)."""
    problems: list[FieldProblem] = []
    path: list[str | int] = [where]  # where the walk is; a path is made only for a problem

    def found(message: str) -> None:
        problems.append(FieldProblem(field_path(path), message))

    def visit(value: object, depth: int) -> None:
        """Check `value`, inside `depth` objects and arrays, and all it holds."""
        if isinstance(value, str):
            if not _keepable(value):
                found(_unkept_text(value, "the text"))
        elif isinstance(value, dict):
            if depth == MAX_DEPTH:
                found(_TOO_DEEP)
                return
            for key, inner in value.items():
                path.append(key)
                if not _keepable(key):
                    found(_unkept_text(key, "the key"))
                visit(inner, depth + 1)
                path.pop()
        elif isinstance(value, list):
            if depth == MAX_DEPTH:
                found(_TOO_DEEP)
                return
            for index, inner in enumerate(value):
                path.append(index)
                visit(inner, depth + 1)
                path.pop()
        elif isinstance(value, float):
            if not math.isfinite(value):
                found("must be a finite number: not NaN, Infinity, or beyond a double's range "
                      "(about ±1.8e308)")
        elif isinstance(value, int) and value not in INT64:
            found(f"is an integer outside the signed 64-bit range, {INT64.start} to "
                  f"{INT64.stop - 1}")

    visit(event, 0)
    return problems


def _keepable(text: str) -> bool:
    """Whether `text` holds neither a NUL nor a lone surrogate."""
    return "\x00" not in text and (text.isascii() or not _SURROGATE.search(text))


def _unkept_text(text: str, what: str) -> str:
    """Why `text`, which holds a NUL or a lone surrogate, cannot be kept."""
    if "\x00" in text:
        return f"{what} holds a NUL character (\\u0000), which no stored text can hold"
    return f"{what} holds a lone surrogate, which is not Unicode text"
