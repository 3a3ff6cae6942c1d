"""Whatever arrives, the answer is a problem or a success: never a 500."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http import MakeToken, bearer

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
