"""Intake's answers to JSON it cannot take, the same on SQLite and on PostgreSQL, with
nothing of a refused body written."""

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


def quote(**fields: Any) -> str:
    """QUOTE with `fields` set, as JSON text."""
    return json.dumps({**QUOTE, **fields})


def assert_refused(response: Any, runtime: Runtime, field: str) -> dict[str, Any]:
    """400 naming `field`, and no job made."""
    problem = assert_problem(response, 400)
    assert [error["field"] for error in problem["errors"]] == [field], response.text
    assert job_count(runtime) == 0
    return problem


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
