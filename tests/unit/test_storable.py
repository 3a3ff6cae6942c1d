"""Tests of the walk that finds what of an event's JSON a store cannot keep, against orjson,
which writes every event the store keeps."""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from policyjobs.exceptions import FieldProblem
from policyjobs.intake.storable import MAX_DEPTH, unkeepable

# Text of any code points, and text with a NUL or a lone surrogate; no backslash, so that
# `\u0000` in orjson's text can only be a NUL it escaped. Most text is clean, so that an
# event is often refused for one reason only.
clean = st.text(st.characters(exclude_characters="\\\x00"), max_size=6)
text = st.one_of(clean, clean, clean, st.builds("".join, st.lists(
    clean | st.sampled_from(["\x00", "\ud800", "\udfff"]), max_size=3)))
# Integers up to int64's top, and about its bottom. None above the top: orjson writes those
# up to 2**64 - 1, where intake refuses them all the same, by its own rule.
numbers = (st.integers(max_value=2**63 - 1) | st.floats()
           | st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 1)
           | st.sampled_from([math.nan, math.inf, -math.inf]))
values = st.recursive(st.none() | st.booleans() | numbers | text,
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(text, inner, max_size=3), max_leaves=10)


def kept_by_orjson(value: Any) -> bool:
    """orjson writes `value`, reads back the same, and no NUL is in it for PostgreSQL."""
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return orjson.loads(written) == value and b"\\u0000" not in written


@settings(max_examples=300)  # each is a few microseconds; the rarer defects need many
@given(data=st.dictionaries(text, values, max_size=4))
def test_an_event_is_refused_exactly_when_the_store_cannot_keep_it(data: dict[str, Any]) -> None:
    event = {"type": "quote", "data": data}
    assert (unkeepable(event, "events[0]") == []) == kept_by_orjson(event)


def test_each_problem_names_its_place() -> None:
    event = {"data": {"a": [1, {"b\0": "x\ud800"}], "n": 2**63, "f": float("nan")},
             "eventId": "e\0"}
    assert unkeepable(event, "events[3]") == [
        FieldProblem('events[3].data.a[1]["b\\u0000"]',
                     "the key holds a NUL character (\\u0000), which no stored text can hold"),
        FieldProblem('events[3].data.a[1]["b\\u0000"]',
                     "the text holds a lone surrogate, which is not Unicode text"),
        FieldProblem("events[3].data.n", "is an integer outside the signed 64-bit range, "
                                         "-9223372036854775808 to 9223372036854775807"),
        FieldProblem("events[3].data.f", "must be a finite number: not NaN, Infinity, or "
                                         "beyond a double's range (about ±1.8e308)"),
        FieldProblem("events[3].eventId",
                     "the text holds a NUL character (\\u0000), which no stored text can hold"),
    ]


def nested(levels: int, leaf: Any) -> list[Any]:
    """`levels` arrays, each the only item of the one around it, the innermost holding `leaf`."""
    array = [leaf]
    for _ in range(levels - 1):
        array = [array]
    return array


def test_nesting_is_refused_past_the_limit_and_not_walked_further() -> None:
    # The event is the first level and `data` the second: 63 arrays down from `data` is the
    # 65th level, refused; what is inside it, a NaN here, is not looked at.
    assert unkeepable({"data": nested(MAX_DEPTH, float("nan"))}, "e") == [
        FieldProblem("e.data" + "[0]" * (MAX_DEPTH - 1),
                     f"nests deeper than {MAX_DEPTH} levels of objects and arrays")]
    assert unkeepable({"data": nested(MAX_DEPTH - 1, 1)}, "e") == []

