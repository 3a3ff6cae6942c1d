"""Intake's answers to JSON it cannot take, the same on SQLite and on PostgreSQL, with
nothing of a refused body written: a body that is not JSON, and JSON that a store cannot keep
exactly (a NUL, a lone surrogate, an integer beyond 64 bits, a number that is not finite,
nesting too deep), refused with 400 naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from tests.acceptance.test_intake import job_count
from tests.support.billing import END, START
from tests.support.http import MakeToken, assert_problem, bearer
from tests.support.tenants import TENANT_CONFIG

# A priced quote: with TENANT_CONFIG it makes a documents job, whose payload holds the
# event's JSON whole, and an installments job.
QUOTE: dict[str, Any] = {
    "type": "quote", "trigger": "priced", "locator": "Q-1", "accountLocator": "A-1",
    "term": {"startTime": START, "endTime": END},
    "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "1200.00"}],
    "data": {"insured": {"name": "Ada"}}}


@pytest.fixture
def tenant(runtime: Runtime) -> str:
    """A tenant whose priced quotes make jobs that store the whole event."""
    return runtime.create_tenant(runtime.tenant_configs.load(TENANT_CONFIG))


@pytest.fixture
def send(client: TestClient, tenant: str, make_token: MakeToken) -> Callable[[str], Any]:
    """Posts JSON text as it is, escapes, NaN and all, to the tenant's events endpoint."""
    headers = {**bearer(make_token(tenant, "events.write")), "Content-Type": "application/json"}

    def post(text: str) -> Any:
        return client.post(f"/platform/{tenant}/events", headers=headers,
                           content=text.encode())

    return post


def quote(number: str = "0", **fields: Any) -> str:
    """QUOTE with `fields` set, as JSON text whose `"#"` strings are replaced by `number`
    (Python writes no JSON for 1e400), every non-ASCII character as a `\\u` escape."""
    return json.dumps({**QUOTE, **fields}).replace('"#"', number)


def nested(levels: int) -> dict[str, Any]:
    """`levels` objects, each the `a` of the one around it."""
    inner: dict[str, Any] = {}
    for _ in range(levels - 1):
        inner = {"a": inner}
    return inner


def assert_refused(response: Any, runtime: Runtime, field: str) -> dict[str, Any]:
    """400 naming `field`, and no job made."""
    problem = assert_problem(response, 400)
    assert [error["field"] for error in problem["errors"]] == [field], response.text
    assert job_count(runtime) == 0
    return problem


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 64  # levels of objects and arrays in an event, as README says
REFUSED = {
    "NUL in a data value": (quote(data={"insured": {"name": "a\0b"}}),
                            "events[0].data.insured.name"),
    "NUL in a data key": (quote(data={"insured": {"na\0me": "Ada"}}),
                          'events[0].data.insured["na\\u0000me"]'),
    "NUL in eventId": (quote(eventId="e\0"), "events[0].eventId"),
    "NUL in a chargeType": (quote(charges=[{**QUOTE["charges"][0], "chargeType": "\0"}]),
                            "events[0].charges[0].chargeType"),
    "NUL in productName": (quote(productName="home\0"), "events[0].productName"),
    "NUL in installmentPlan": (quote(installmentPlan="monthly\0"),
                               "events[0].installmentPlan"),
    "NUL in timezone": (quote(timezone="UTC\0"), "events[0].timezone"),
    "a lone surrogate in a data value": (quote(data={"insured": {"name": "\ud800"}}),
                                         "events[0].data.insured.name"),
    "a lone low surrogate in a list": (quote(data={"names": ["ok", "x\udfff"]}),
                                       "events[0].data.names[1]"),
    "a lone surrogate in a data key": (quote(data={"\ud800": "Ada"}),
                                       'events[0].data["\\ud800"]'),
    "a lone surrogate in productName": (quote(productName="\udc00"), "events[0].productName"),
    "an integer below int64": (quote(data={"n": INT64_MIN - 1}), "events[0].data.n"),
    "an integer above int64": (quote(data={"n": INT64_MAX + 1}), "events[0].data.n"),
    "2**70 in a list": (quote(data={"n": [1, 2**70]}), "events[0].data.n[1]"),
    "NaN": (quote("NaN", data={"x": "#"}), "events[0].data.x"),
    "Infinity": (quote("Infinity", data={"x": "#"}), "events[0].data.x"),
    "-Infinity": (quote("-Infinity", data={"x": "#"}), "events[0].data.x"),
    "1e400": (quote("1e400", data={"x": "#"}), "events[0].data.x"),
    "-1e400": (quote("-1e400", data={"x": ["#"]}), "events[0].data.x[0]"),
    "a non-finite amount": (quote("NaN", charges=[{**QUOTE["charges"][0], "amount": "#"}]),
                            "events[0].charges[0].amount"),
    # The event is the first level and `data` the second: the first object too deep is
    # `data` and 63 `a`s down.
    "nesting past the limit": (quote(data=nested(MAX_DEPTH)),
                               "events[0].data" + ".a" * (MAX_DEPTH - 1)),
    "nesting past orjson's limit": (quote(data=nested(300)),
                                    "events[0].data" + ".a" * (MAX_DEPTH - 1)),
}


@pytest.mark.parametrize(("text", "field"), list(REFUSED.values()), ids=list(REFUSED))
def test_json_a_store_cannot_keep_is_refused_by_field(
        send: Callable[[str], Any], runtime: Runtime, text: str, field: str) -> None:
    problem = assert_refused(send(text), runtime, field)
    assert problem["detail"].startswith(f"the event was rejected: {field}: "), problem
    assert "batch" not in problem["detail"]


KEPT = {
    "the int64 bounds": quote(data={"n": [INT64_MIN, INT64_MAX]}),
    "large finite numbers": quote(data={"x": [1.7e308, -1.7e308, 5e-324]}),
    "text beyond ASCII, with a surrogate pair": quote(data={"name": "Zoë \U0001F600 \u00a0"}),
    "control characters but NUL": quote(data={"name": "a\x01\x1f\x7fb"}),
    "nesting at the limit": quote(data=nested(MAX_DEPTH - 1)),
}


@pytest.mark.parametrize("text", list(KEPT.values()), ids=list(KEPT))
def test_json_a_store_keeps_is_taken(send: Callable[[str], Any], runtime: Runtime,
                                     text: str) -> None:
    response = send(text)
    assert response.status_code == 202, response.text
    assert job_count(runtime) == 2  # the quote's documents and installments


def test_one_unkeepable_value_rejects_the_batch_whole(send: Callable[[str], Any],
                                                       runtime: Runtime) -> None:
    good = {**QUOTE, "locator": "Q-2"}
    bad = {**QUOTE, "data": {"insured": {"name": "a\0b"}, "n": 2**64}}
    problem = assert_problem(send(json.dumps({"events": [good, bad, good]})), 400)
    assert [e["field"] for e in problem["errors"]] == ["events[1].data.insured.name",
                                                       "events[1].data.n"]
    assert problem["detail"].startswith("the batch was rejected whole: events[1].data.insured")
    assert job_count(runtime) == 0


def test_malformed_json_is_named_body_with_where_the_parser_stopped(
        send: Callable[[str], Any], runtime: Runtime) -> None:
    problem = assert_refused(send("{bad"), runtime, "body")
    [error] = problem["errors"]
    assert error["message"] == ("Expecting property name enclosed in double quotes: "
                                "line 1 column 2 (char 1)")
    problem = assert_refused(send('{"events": [\n  {"type": "quote",}]}'), runtime, "body")
    assert "line 2 column 20" in problem["errors"][0]["message"]


def test_a_single_invalid_event_is_not_called_a_batch(send: Callable[[str], Any],
                                                      runtime: Runtime) -> None:
    """A bare event is answered as a batch of one: its fields are `events[0].…`, as in a
    batch, but the detail says the event, not the batch, was rejected."""
    problem = assert_refused(send(quote(locator="bad locator")), runtime, "events[0].locator")
    assert problem["detail"].startswith("the event was rejected: events[0].locator: ")
    problem = assert_refused(send(quote(timezone="Nowhere")), runtime, "events[0].timezone")
    assert problem["detail"].startswith("the event was rejected: events[0]: timezone: ")
    problem = assert_problem(send(json.dumps({"events": [QUOTE, {**QUOTE, "locator": "!"}]})),
                             400)
    assert problem["detail"].startswith("the batch was rejected whole: events[1].locator: ")


def test_a_key_that_does_not_print_is_named_readably(send: Callable[[str], Any],
                                                     runtime: Runtime) -> None:
    """A lone surrogate cannot be written in an answer at all, and a NUL cannot be read: in
    a field's name each is a JSON escape, the key a JSON string in brackets."""
    assert_refused(send(json.dumps({"events": [QUOTE], "\ud800": 1})), runtime, '["\\ud800"]')
    assert_refused(send(quote(**{"\0": "x"})), runtime, 'events[0]["\\u0000"]')
