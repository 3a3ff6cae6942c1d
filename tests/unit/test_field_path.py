"""Tests of the path that names an input field in a problem."""

from __future__ import annotations

from policyjobs.exceptions import field_path


def test_a_path_is_dotted_keys_and_bracketed_indexes() -> None:
    assert field_path(["events", 2, "charges", 0, "amount"]) == "events[2].charges[0].amount"
    assert field_path(["data", "currencies", "[key]"]) == "data.currencies[key]"


def test_a_key_that_does_not_print_is_a_json_string_in_brackets() -> None:
    assert field_path(["events", 0, "data", "first name", "a.b"]) == "events[0].data.first name.a.b"
    assert field_path(["events", 0, "data", "\0", "\ud800", "\x1f", 2]) == (
        'events[0].data["\\u0000"]["\\ud800"]["\\u001f"][2]')
    assert field_path(["\ud800"]) == '["\\ud800"]'
