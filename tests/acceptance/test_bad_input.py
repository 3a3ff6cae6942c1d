"""Whatever arrives, the answer is a problem or a success: never a 500."""

from __future__ import annotations

import copy
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyjobs.runtime import Runtime
from tests.support.billing import END, START, issuance
from tests.support.http import MakeToken, assert_problem, bearer
from tests.support.tenants import Tenants

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                  max_size=4),
    max_leaves=12,
)
events = st.fixed_dictionaries({"type": st.just("test.ping")}, optional={
    "locator": st.text(max_size=70), "eventId": st.one_of(st.text(max_size=130), st.integers()),
    "message": json_values, "runAt": st.text(max_size=30), "fail": json_values,
})
query_text = st.text(alphabet=string.printable, max_size=12)
path_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@",
                    max_size=70)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(json_values, events, st.fixed_dictionaries({"events": st.lists(events,
                                                                                    max_size=3)})))
def test_intake_never_fails_on_any_json(client: TestClient, tenant: str,
                                        make_token: MakeToken, body: Any) -> None:
    token = make_token(tenant, "events.write")
    response = client.post(f"/platform/{tenant}/events", headers=bearer(token), json=body)
    assert response.status_code in (202, 400), response.text


@FUZZ
@given(offset=query_text, count=query_text, extended=query_text, locator=path_text)
def test_lists_never_fail_on_any_query(client: TestClient, tenant: str, make_token: MakeToken,
                                       offset: str, count: str, extended: str,
                                       locator: str) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list")
    response = client.get(f"/test/{tenant}/pings/x{locator}/jobs/list",
                          params={"offset": offset, "count": count, "extended": extended},
                          headers=bearer(token))
    assert response.status_code in (200, 400, 404), response.text


def test_a_nul_character_in_a_path_or_query_is_refused(client: TestClient, tenant: str,
                                                      make_token: MakeToken) -> None:
    """No stored text holds a NUL (PostgreSQL refuses one in any string), so a path or query
    with one is malformed: 400, on every store, not a failure deep in a query."""
    token = make_token(tenant, "jobs.read", "jobs.list")
    for url in (f"/test/{tenant}/pings/x%00/jobs/list", f"/test/{tenant}/pings/P-1/jobs/J%00",
                f"/test/{tenant}/pings/P-1/jobs/list?offset=1%00",
                f"/document/{tenant}/documents/quote/Q%001/jobs/list"):
        problem = assert_problem(client.get(url, headers=bearer(token)), 400)
        assert "NUL" in problem["detail"], url


offsets = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
moments = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=offsets).map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=offsets).map(lambda moment: moment.isoformat()),
    st.text(max_size=30),
)
spans = st.fixed_dictionaries({"startTime": moments, "endTime": moments})
amounts = st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
                    st.text(max_size=20), st.integers(),
                    st.floats(allow_nan=False, allow_infinity=False))
charges = st.lists(st.fixed_dictionaries({
    "locator": st.sampled_from(["C-1", "C-2", "bad locator"]),
    "chargeType": st.sampled_from(["premium", "tax", ""]), "amount": amounts}), max_size=3)
choices = {"timezone": st.sampled_from(["UTC", "America/New_York", "Nowhere", "../etc", ""]),
           "currency": st.sampled_from(["USD", "JPY", "BHD", "ZZZ", "usd"]),
           "installmentPlan": st.sampled_from(["monthly", "quarterly", "fullPay", "none"])}
billing_events = st.one_of(
    st.fixed_dictionaries({
        "type": st.just("quote"), "trigger": st.sampled_from(["priced", "accepted"]),
        "locator": st.just("Q-1"), "accountLocator": st.just("A-1"),
        "term": st.one_of(st.none(), spans), "charges": charges,
    }, optional=choices),
    st.fixed_dictionaries({
        "type": st.just("transaction"), "trigger": st.just("issued"),
        "transactionType": st.sampled_from(["issuance", "change", "cancellation", "reversal"]),
        "locator": st.just("T-1"), "policyLocator": st.just("P-1"),
        "accountLocator": st.just("A-1"),
        "segments": st.lists(spans.map(lambda span: {**span, "locator": "S-1"}), max_size=3),
    }, optional={**choices, "effectiveTime": moments,
                 "reversedTransactionLocator": st.just("T-0")}),
)


@FUZZ
@given(body=st.lists(billing_events, min_size=1, max_size=3))
def test_billing_events_are_billed_or_rejected_never_a_500(
        client: TestClient, tenant: str, make_token: MakeToken, body: list[Any]) -> None:
    token = make_token(tenant, "events.write")
    response = client.post(f"/platform/{tenant}/events", headers=bearer(token),
                           json={"events": body})
    assert response.status_code in (202, 400), response.text


# -- every event type and the early invoicing body, near valid, against real data ------------

nasty = st.one_of(json_values, st.sampled_from([
    "", " ", "-1", "0", "1e309", "NaN", "Infinity", "12.3456789012345678", "x" * 5000,
    "2027-13-01T00:00:00Z", "2027-01-01T00:00:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "\u0000", "../../etc/passwd", -1, 0, 10**30, -(10**30), 1e308,
    True, [], {}, [None], {"": None}]))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside `value`, by its keys and indexes."""
    found = [at]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*at, index))
    return found


@st.composite
def near(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """`valid` with up to three things dropped or replaced by something odd."""
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, 3))):
        places = _paths(body)[1:]
        if not places:
            break
        *parents, key = draw(st.sampled_from(places))
        parent = body
        for step in parents:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:  # a copy: a later step may change it, and `nasty`'s samples must stay put
            parent[key] = copy.deepcopy(draw(nasty))
    return body


def valid_events(tenants: Tenants) -> dict[str, dict[str, Any]]:
    """One valid event of each type, naming what tenant B has."""
    with tenants.runtime.db.connect() as conn:
        def first(table: str) -> str:
            return str(conn.execute(sa.text(f"SELECT locator FROM {table} WHERE tenant = :t "
                                            "ORDER BY locator"), {"t": tenants.b}).scalar())
        invoice, delinquency = first("invoices"), first("delinquencies")
        event = first("delinquency_events")
    span = {"startTime": START, "endTime": END}
    return {
        "quote": {"type": "quote", "trigger": "priced", "locator": "BQ-2",
                  "accountLocator": "BA-1", "term": span, "currency": "USD",
                  "charges": [{"locator": "BC-2", "chargeType": "premium", "amount": "10.00"}]},
        "transaction": issuance("BT-2", "BP-2", "600.00", account="BA-1"),
        "payment": {"type": "payment", "invoiceLocator": invoice, "amount": "1.00",
                    "currency": "USD"},
        "immediateInvoicing": {"type": "immediateInvoicing", "accountLocator": "BA-1",
                               "currencies": ["USD"]},
        "delinquencyHold": {"type": "delinquencyHold", "delinquencyLocator": delinquency},
        "delinquencyReschedule": {"type": "delinquencyReschedule",
                                  "delinquencyLocator": delinquency,
                                  "graceEndTime": "2027-02-15T05:00:00Z"},
        "delinquencyEventCancel": {"type": "delinquencyEventCancel",
                                   "delinquencyEventLocator": event},
        "test.ping": {"type": "test.ping", "locator": "BX-1", "message": {"hello": "world"}},
    }


@pytest.fixture
def tenants(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Tenants:
    return Tenants(client, runtime, make_token)


@pytest.fixture
def examples(tenants: Tenants) -> dict[str, dict[str, Any]]:
    """Read once: what hypothesis draws from must not change as accepted events change B."""
    return valid_events(tenants)


@pytest.fixture
def installments(tenants: Tenants) -> list[str]:
    with tenants.runtime.db.connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT locator FROM installments WHERE tenant = :t"), {"t": tenants.b}).scalars())


def assert_refused_by_field(response: Any) -> None:
    """A 400 whose every error names the field it is about."""
    problem = response.json()
    assert problem["errors"], response.text
    assert all(error["field"] for error in problem["errors"]), response.text


def test_there_is_a_valid_event_of_every_type(tenants: Tenants,
                                               examples: dict[str, dict[str, Any]]) -> None:
    types = {event.name for domain in tenants.runtime.domains for event in domain.events}
    assert set(examples) == types


@FUZZ
@given(data=st.data())
def test_every_event_type_is_taken_or_refused_by_field_and_a_refusal_writes_nothing(
        tenants: Tenants, examples: dict[str, dict[str, Any]], data: st.DataObject) -> None:
    batch = data.draw(st.lists(st.sampled_from(sorted(examples)).flatmap(
        lambda name: near(examples[name])), min_size=1, max_size=3))
    tenants.settle()
    before = tenants.rows_of_b()
    response = tenants.client.post(f"/platform/{tenants.b}/events", headers=tenants.b_headers,
                                   json={"events": batch})
    assert response.status_code in (202, 400, 409), response.text  # 409: a state conflict
    if response.status_code == 400:
        assert_refused_by_field(response)
    if response.status_code != 202:
        assert tenants.rows_of_b() == before, "a refused batch wrote something"


@FUZZ
@given(data=st.data())
def test_early_invoicing_is_taken_or_refused_and_a_refusal_writes_nothing(
        tenants: Tenants, installments: list[str], data: st.DataObject) -> None:
    body = data.draw(near({"installmentLocators": installments[-3:], "ignoreHolds": False,
                           "accountLocator": "BA-1", "invoiceDueTime": "2027-03-01T05:00:00Z",
                           "timezone": "America/New_York"}))
    tenants.settle()
    before = tenants.rows_of_b()
    response = tenants.client.post(f"/billing/{tenants.b}/invoices/earlyInvoicing",
                                   headers=tenants.b_headers, json=body)
    assert response.status_code in (200, 400, 404, 409), response.text
    if response.status_code == 400:
        assert_refused_by_field(response)
    if response.status_code != 200:
        assert tenants.rows_of_b() == before, "a refused request wrote something"
