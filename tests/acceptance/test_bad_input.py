"""Whatever arrives, the answer is a problem or a success: never a 500."""

from __future__ import annotations

import string
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.acceptance.conftest import MakeToken, bearer

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
