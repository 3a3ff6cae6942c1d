"""The dashboard's session, CSRF and permissions, over HTTP: it shows and does only what the
token may through the API, and no form that changes something works from another site."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policyjobs.dashboard.session import LOGIN_CSRF, SESSION, csrf_for
from policyjobs.runtime import Runtime
from policyjobs.security.tokens import VerifiedTokens, revoke_token
from tests.support.http import MakeToken, bearer

CONFIG = """
documents:
  definitions:
    - {staticName: greeting, name: Greeting, trigger: validated, scope: quote, format: text,
       template: "Quote {{ reference.locator }}"}
    - {staticName: schedule, name: Schedule, trigger: validated, scope: quote, format: html,
       template: "<p>{{ event.data.schedule.rows }}</p>"}
"""
QUOTE = {"type": "quote", "trigger": "validated", "locator": "Q-1", "accountLocator": "A-1",
         "term": {"startTime": "2027-01-01T05:00:00Z", "endTime": "2028-01-01T05:00:00Z"},
         "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "10.00"}]}


class Dashboard:
    """A tenant with one failed documents job (one document ready, one not), and a client
    that logs in to the dashboard with tokens."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
        self.client, self.runtime, self.make_token = client, runtime, make_token
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(CONFIG))
        api = bearer(make_token(self.tenant, "events.write", "documents.read", "admin"))
        sent = client.post(f"/platform/{self.tenant}/events", headers=api, json=QUOTE)
        self.job = sent.json()["events"][0]["jobs"][0]["locator"]
        assert client.get("/admin/idle", params={"timeout": 60}, headers=api).json()["idle"]
        job = client.get(f"/document/{self.tenant}/documents/quote/Q-1/jobs/{self.job}",
                         headers=api).json()
        assert job["status"] == "failed"
        self.document = next(d["locator"] for d in job["documents"]
                             if d["documentInstanceState"] == "ready")

    def log_in(self, token: str, **headers: str) -> Any:
        self.client.cookies.clear()
        self.client.get("/dashboard/login")
        return self.client.post("/dashboard/login", headers=headers, follow_redirects=False,
                                data={"token": token,
                                      "csrf": self.client.cookies.get(LOGIN_CSRF) or ""})

    def as_token(self, *permissions: str) -> str:
        token = self.make_token(self.tenant, *permissions)
        assert self.log_in(token).status_code == 303
        return token

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(f"/dashboard{path}", params={"tenant": self.tenant, **params},
                               follow_redirects=False)

    def retrigger(self, csrf: str | None) -> Any:
        form = {} if csrf is None else {"csrf": csrf}
        return self.client.post(f"/dashboard/jobs/{self.job}/retrigger", data=form,
                                params={"tenant": self.tenant}, follow_redirects=False)


@pytest.fixture
def dashboard(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Dashboard:
    return Dashboard(client, runtime, make_token)


def test_without_a_session_every_page_goes_to_the_login(dashboard: Dashboard) -> None:
    for path in ("", "/jobs", f"/jobs/{dashboard.job}", f"/documents/{dashboard.document}/file"):
        response = dashboard.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login"
    assert dashboard.retrigger("anything").headers["location"] == "/dashboard/login"


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
        dashboard: Dashboard) -> None:
    token = dashboard.make_token(dashboard.tenant, "jobs.read")
    plain = dashboard.log_in(token).headers["set-cookie"]
    assert f"{SESSION}={token}" in plain
    assert "HttpOnly" in plain
    assert "SameSite=strict" in plain
    assert "Path=/dashboard" in plain
    assert "Secure" not in plain
    page = dashboard.get("")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "Secure" in dashboard.log_in(token, **{"X-Forwarded-Proto": "https"}).headers[
        "set-cookie"]


def test_a_login_without_its_form_token_or_with_a_bad_token_fails(dashboard: Dashboard) -> None:
    token = dashboard.make_token(dashboard.tenant, "jobs.read")
    dashboard.client.cookies.clear()
    forged = dashboard.client.post("/dashboard/login", data={"token": token, "csrf": "x"})
    assert forged.status_code == 400
    assert SESSION not in dashboard.client.cookies
    unknown = dashboard.log_in("pj_not_a_real_token")
    assert unknown.status_code == 401
    assert "unknown, expired or revoked" in unknown.text
    assert SESSION not in dashboard.client.cookies


def test_a_token_revoked_or_expired_mid_session_ends_it(dashboard: Dashboard) -> None:
    dashboard.runtime.tokens = VerifiedTokens(timedelta(0))  # revocations count at once
    token = dashboard.as_token("jobs.read")
    with dashboard.runtime.db.begin() as conn:
        revoke_token(conn, token.split("_")[1], dashboard.runtime.clock.now())
    response = dashboard.get("")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    expiring = dashboard.make_token(dashboard.tenant, "jobs.read",
                                    expires_at=dashboard.runtime.clock.now()
                                    + timedelta(minutes=1))
    assert dashboard.log_in(expiring).status_code == 303
    dashboard.client.put("/admin/clock", headers=bearer(dashboard.make_token(
        dashboard.tenant, "admin")), json={"now": (dashboard.runtime.clock.now()
                                                   + timedelta(hours=1)).isoformat()})
    assert dashboard.get("").headers["location"] == "/dashboard/login"


def test_each_permission_gates_what_it_gates_in_the_api(dashboard: Dashboard) -> None:
    dashboard.as_token("jobs.list")
    assert dashboard.get("").status_code == 403  # no jobs.read: nothing to see

    dashboard.as_token("jobs.read")
    assert dashboard.get("").status_code == 200
    assert dashboard.get("/jobs").status_code == 403  # lists need jobs.list
    page = dashboard.get(f"/jobs/{dashboard.job}")
    assert page.status_code == 200
    assert 'id="documents"' not in page.text  # documents need documents.read
    assert "Retrigger" not in page.text
    assert dashboard.get(f"/documents/{dashboard.document}/file").status_code == 403

    token = dashboard.as_token("jobs.read", "jobs.list", "documents.read")
    assert dashboard.get("/jobs").status_code == 200
    page = dashboard.get(f"/jobs/{dashboard.job}")
    assert 'id="documents"' in page.text
    assert "Retrigger" not in page.text  # retriggers need documents.trigger
    assert dashboard.retrigger(csrf_for(token)).status_code == 403
    file = dashboard.get(f"/documents/{dashboard.document}/file")
    assert file.status_code == 200
    assert file.text == "Quote Q-1"
    assert file.headers["content-security-policy"].endswith("; sandbox")  # it runs nothing


def test_a_retrigger_needs_the_sessions_form_token(dashboard: Dashboard,
                                                   runtime: Runtime) -> None:
    token = dashboard.as_token("jobs.read", "documents.read", "documents.trigger")
    assert "Retrigger" in dashboard.get(f"/jobs/{dashboard.job}").text
    other = dashboard.make_token(dashboard.tenant, "jobs.read", "documents.trigger")
    for forged in (None, "", csrf_for(other)):
        assert dashboard.retrigger(forged).status_code == 400
    assert 'id="status">failed<' in dashboard.get(f"/jobs/{dashboard.job}").text  # not re-run
    done = dashboard.retrigger(csrf_for(token))
    assert done.status_code == 303
    assert "retriggered" in done.headers["location"]


def test_a_logout_needs_the_sessions_form_token(dashboard: Dashboard) -> None:
    token = dashboard.as_token("jobs.read")
    forged = dashboard.client.post("/dashboard/logout", data={"csrf": "x"},
                                   follow_redirects=False)
    assert forged.status_code == 400
    assert dashboard.get("").status_code == 200  # still logged in
    out = dashboard.client.post("/dashboard/logout", data={"csrf": csrf_for(token)},
                                follow_redirects=False)
    assert out.status_code == 303
    assert dashboard.get("").headers["location"] == "/dashboard/login"


def test_bad_parameters_are_clear_errors(dashboard: Dashboard) -> None:
    dashboard.as_token("jobs.read", "jobs.list", "documents.read")
    assert dashboard.client.get("/dashboard", params={"tenant": "nope"}).status_code == 400
    assert dashboard.get("/jobs", offset="many").status_code == 400
    missing = dashboard.get("/jobs/01J00000000000000000000000")
    assert missing.status_code == 404
    assert dashboard.get("/documents/01J00000000000000000000000/file").status_code == 404
    shown = dashboard.get("/jobs", reference="<script>alert(1)</script>")
    assert shown.status_code == 400  # no reference locator looks so
    assert "<script>alert(1)" not in shown.text
