"""Webhooks end to end, on both stores: endpoints over the API, events recorded with the
change that causes them, deliveries signed per Standard Webhooks (verified by the
`standardwebhooks` package, not by our code) to a real receiver in the test process,
retries on the test clock, 410, an endpoint disabled after five failing days, the attempts'
log, and resends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.dashboard.session import LOGIN_CSRF
from policyjobs.engine.schema import jobs
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.testing.waiting import wait_until
from policyjobs.webhooks import service
from policyjobs.webhooks.catalogue import CATALOGUE
from policyjobs.webhooks.models import (
    DELIVER,
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
)
from policyjobs.webhooks.schemas import event_models
from tests.acceptance.conftest import CLOCK_START
from tests.support import api_domain
from tests.support.billing import CONFIG, DELINQUENCY, Books, issuance
from tests.support.engine_domain import clock_of, drifted_marks, status
from tests.support.http import MakeToken, assert_problem, bearer, ping
from tests.support.operations import Tenanted, act
from tests.support.receiver import RawReceiver, Receiver

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml").read_text()
START, END = "2027-01-01T05:00:00Z", "2028-01-01T05:00:00Z"
FINISHED = "installments.job.finished"
GENERATED = "invoicing.invoice.generated"


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The acceptance runtime, allowed to deliver to the receiver on a loopback http URL."""
    settings = Settings(database_url=database_url, home=tmp_path / "home", test_clock=True,
                        poll="100ms", lease="5s", upkeep="200ms", webhooks_allow_http=True,
                        webhooks_allow_private=True)
    built = build_runtime(settings, extra_domains=[api_domain.domain])
    clock_of(built).set(CLOCK_START)
    try:
        yield built
        assert drifted_marks(built.db) == [], "job_marks no longer match the jobs"
    finally:
        built.close()


def job_count(runtime: Runtime) -> int:
    with runtime.db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


class Hooks:
    """A tenant configured from examples/tenant.yaml, a token, and the webhooks API."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
        self.client, self.runtime = client, runtime
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(EXAMPLE))
        self.headers = bearer(make_token(self.tenant, "webhooks.read", "webhooks.write",
                                         "events.write", "admin"))
        self.base = f"/platform/{self.tenant}/webhooks"

    def subscribe(self, url: str, *types: str, description: str = "") -> dict[str, Any]:
        response = self.client.post(self.base, headers=self.headers, json={
            "url": url, "eventTypes": list(types), "description": description})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def quote(self, locator: str) -> None:
        """Send a priced quote (its documents and installments jobs run) and wait until
        every job, the deliveries' included, has run."""
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": [{
                                        "type": "quote", "trigger": "priced", "locator": locator,
                                        "accountLocator": "A-1",
                                        "term": {"startTime": START, "endTime": END},
                                        "charges": [{"locator": "C-1", "chargeType": "premium",
                                                     "amount": "1200.00"}],
                                        "data": {"insured": {"name": "Ada Lovelace"}}}]})
        assert response.status_code == 202, response.text
        self.settle()

    def event(self, invoice: str) -> None:
        """Record one `invoicing.invoice.generated` event, as invoicing does in the
        transaction that makes an invoice (cheaper than a quote's jobs), and wait until
        its deliveries have run."""
        runtime = self.runtime
        with runtime.db.begin() as conn:
            service.publish(conn, runtime.queue, tenant=self.tenant, at=runtime.clock.now(),
                            events=[service.Event(GENERATED, {"invoiceLocator": invoice,
                                                              "accountLocator": "A-1"})])
        self.settle()

    def settle(self) -> None:
        idle = self.client.get("/admin/idle", params={"timeout": 120}, headers=self.headers)
        assert idle.json() == {"idle": True}

    def later(self, by: timedelta) -> None:
        """Move the test clock on by `by`, and let what fell due run."""
        clock_of(self.runtime).set(self.runtime.clock.now() + by)
        self.settle()

    def attempts(self, endpoint: str, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(f"{self.base}/{endpoint}/deliveries/list",
                                   headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def endpoint(self, locator: str) -> dict[str, Any]:
        response = self.client.get(f"{self.base}/{locator}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def hooks(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Hooks:
    return Hooks(client, runtime, make_token)


def test_an_endpoint_is_made_read_listed_changed_rotated_and_deleted(hooks: Hooks,
                                                                      receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", FINISHED, description="our ledger")
    assert made["secret"].startswith("whsec_")
    assert (made["url"], made["eventTypes"], made["enabled"], made["description"]) == (
        receiver.url + "/in", [FINISHED], True, "our ledger")
    read = hooks.endpoint(made["locator"])
    assert "secret" not in read  # shown once
    listed = hooks.client.get(f"{hooks.base}/list", headers=hooks.headers).json()
    assert [e["locator"] for e in listed["items"]] == [made["locator"]]
    changed = hooks.client.patch(f"{hooks.base}/{made['locator']}", headers=hooks.headers,
                                 json={"eventTypes": [], "enabled": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["eventTypes"], changed.json()["enabled"]) == ([], False)
    rotated = hooks.client.post(f"{hooks.base}/{made['locator']}/rotateSecret",
                                headers=hooks.headers)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != made["secret"]
    gone = hooks.client.delete(f"{hooks.base}/{made['locator']}", headers=hooks.headers)
    assert gone.status_code == 204
    assert_problem(hooks.client.get(f"{hooks.base}/{made['locator']}", headers=hooks.headers),
                   404)


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "/relative/path"}, "url"),
    ({"url": "ftp://example.com/in"}, "url"),
    ({"url": "https://example.com/in", "eventTypes": ["documents.job.exploded"]},
     "eventTypes[0]"),
    ({"url": "https://example.com/in", "description": "x" * 501}, "description"),
    ({"url": "https://example.com/in", "secret": "whsec_mine"}, "secret"),
])
def test_a_bad_endpoint_is_refused_naming_the_field_and_nothing_is_made(
        hooks: Hooks, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(hooks.client.post(hooks.base, headers=hooks.headers, json=body), 400)
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert hooks.client.get(f"{hooks.base}/list", headers=hooks.headers).json()["items"] == []


def test_http_and_private_addresses_are_refused_unless_the_settings_allow_them(
        database_url: str, tmp_path: Path, make_token: MakeToken, runtime: Runtime) -> None:
    strict = build_runtime(Settings(database_url=database_url, home=tmp_path / "strict"),
                           extra_domains=[api_domain.domain])
    try:
        tenant = strict.create_tenant(strict.tenant_configs.load(""))
        headers = bearer(make_token(tenant, "webhooks.write", "webhooks.read"))
        with TestClient(create_app(strict, run_workers=False)) as client:
            base = f"/platform/{tenant}/webhooks"
            for url, says in (("http://example.com/in", "https"),
                              ("https://127.0.0.1:9/in", "127.0.0.1"),
                              ("https://localhost/in", "loopback"),
                              ("https://[::1]/in", "::1"),
                              ("https://169.254.169.254/latest", "169.254.169.254"),
                              ("https://10.1.2.3/in", "10.1.2.3")):
                problem = assert_problem(client.post(base, headers=headers, json={"url": url}),
                                         400)
                [error] = problem["errors"]
                assert error["field"] == "url", (url, error)
                assert says in error["message"], (url, error)
            assert client.get(f"{base}/list", headers=headers).json()["items"] == []
    finally:
        strict.close()


def test_a_delivery_is_signed_as_standard_webhooks_says(hooks: Hooks,
                                                        receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", FINISHED)
    hooks.quote("Q-1")
    [delivery] = receiver.of_type(FINISHED)
    event = Webhook(made["secret"]).verify(delivery.body, delivery.headers)
    assert event == delivery.event
    assert set(event) == {"id", "type", "timestamp", "tenantLocator", "data"}
    assert event["tenantLocator"] == hooks.tenant
    assert event["data"]["referenceType"] == "quote"
    assert event["data"]["referenceLocator"] == "Q-1"
    assert delivery.headers["webhook-id"] == event["id"]
    event_models()[FINISHED].model_validate(event)  # as the OpenAPI describes it
    jobs = hooks.client.get(f"/billing/{hooks.tenant}/jobs/installments/quotes/Q-1/list",
                            headers=hooks.headers)
    assert [j["locator"] for j in jobs.json()["items"]] == [event["data"]["jobLocator"]]
    [attempt] = hooks.attempts(made["locator"])
    assert (attempt["statusCode"], attempt["deliveryStatus"], attempt["eventId"]) == (
        204, "succeeded", event["id"])


def test_an_endpoint_gets_only_the_types_it_wants(hooks: Hooks, receiver: Receiver) -> None:
    hooks.subscribe(receiver.url + "/all")
    hooks.subscribe(receiver.url + "/finished", FINISHED)
    hooks.quote("Q-1")
    types = {(d.path, d.event["type"]) for d in receiver.got}
    assert ("/finished", FINISHED) in types
    assert {t for p, t in types if p == "/finished"} == {FINISHED}
    assert {"documents.job.finished", FINISHED} <= {t for p, t in types if p == "/all"}


def test_a_failed_attempt_is_retried_on_the_schedule_with_the_same_id(
        hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda n, _: (500, b"down for maintenance") if n < 2 else (200, b"ok")
    hooks.event("I-1")
    assert len(receiver.got) == 1
    for waited, count in ((timedelta(seconds=5), 2), (timedelta(minutes=5), 3)):
        failed_at, due = retry(hooks)
        # the schedule, jittered, counted from when the worker recorded the failure: a
        # moment after the attempt, longer on a loaded machine
        assert waited * 0.9 <= due - failed_at <= waited * 1.1 + timedelta(seconds=3)
        clock_of(hooks.runtime).set(due - timedelta(seconds=1))
        hooks.settle()
        assert len(receiver.got) == count - 1  # not before it is due
        hooks.later(timedelta(seconds=2))
        assert len(receiver.got) == count
    assert len({d.headers["webhook-id"] for d in receiver.got}) == 1
    attempts = hooks.attempts(made["locator"])
    assert [(a["statusCode"], a["response"]) for a in attempts] == [
        (200, "ok"), (500, "down for maintenance"), (500, "down for maintenance")]
    assert {a["deliveryStatus"] for a in attempts} == {"succeeded"}
    assert "failingSince" not in hooks.endpoint(made["locator"])


def retry(hooks: Hooks) -> tuple[datetime, datetime]:
    """When the only delivery's last attempt failed, and when its next is due."""
    with hooks.runtime.db.connect() as conn:
        failed_at = conn.execute(
            sa.select(sa.func.max(webhook_attempts.c.attempted_at))).scalar_one()
        due = conn.execute(sa.select(jobs.c.run_at).where(
            jobs.c.kind == DELIVER, jobs.c.status == "queued")).scalar_one()
    return failed_at, due


def test_410_stops_retries_and_disables_the_endpoint(hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda _n, _p: (410, b"")
    hooks.event("I-1")
    hooks.later(timedelta(hours=30))
    assert len(receiver.got) == 1
    endpoint = hooks.endpoint(made["locator"])
    assert endpoint["enabled"] is False
    assert "410" in endpoint["disabledReason"]
    [attempt] = hooks.attempts(made["locator"])
    assert attempt["deliveryStatus"] == "gone"


def test_an_endpoint_failing_for_five_days_is_disabled_and_says_so(
        hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda _n, _p: (503, b"")
    hooks.event("I-1")
    for _ in range(8):  # every retry of the first delivery: about 28 hours
        hooks.later(timedelta(hours=11))
    assert len(receiver.got) == 8
    assert {a["deliveryStatus"] for a in hooks.attempts(made["locator"])} == {"failed"}
    assert hooks.endpoint(made["locator"])["enabled"] is True  # failing, not yet for 5 days
    hooks.later(timedelta(days=4))
    hooks.event("I-2")
    endpoint = hooks.endpoint(made["locator"])
    assert endpoint["enabled"] is False
    assert "5 days" in endpoint["disabledReason"]
    hooks.event("I-3")  # nothing is recorded for a disabled endpoint
    assert len(receiver.got) == 9


def test_an_operator_resends_one_event_or_every_failed_delivery_since_a_time(
        hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda _n, _p: (500, b"")
    hooks.event("I-1")
    hooks.event("I-2")
    for _ in range(8):
        hooks.later(timedelta(hours=11))
    assert len(receiver.got) == 16
    receiver.answer = lambda _n, _p: (204, b"")
    since = (hooks.runtime.clock.now() - timedelta(days=30)).isoformat()
    resent = hooks.client.post(f"{hooks.base}/{made['locator']}/resend", headers=hooks.headers,
                               json={"failedSince": since})
    assert resent.status_code == 200, resent.text
    assert len(resent.json()["deliveryLocators"]) == 2
    hooks.settle()
    ids = [d.headers["webhook-id"] for d in receiver.got]
    assert sorted(ids[16:]) == sorted(set(ids[:16]))  # each event again, with its own id
    one = hooks.client.post(f"{hooks.base}/{made['locator']}/resend", headers=hooks.headers,
                            json={"eventId": ids[0]})
    assert one.status_code == 200, one.text
    hooks.settle()
    assert ids[0] == receiver.got[-1].headers["webhook-id"]
    assert {a["eventId"] for a in hooks.attempts(made["locator"], eventId=ids[0])} == {ids[0]}
    both = hooks.client.post(f"{hooks.base}/{made['locator']}/resend", headers=hooks.headers,
                             json={"eventId": ids[0], "failedSince": since})
    assert_problem(both, 400)


def test_a_change_rolled_back_records_no_event_and_sends_nothing(
        hooks: Hooks, receiver: Receiver) -> None:
    hooks.subscribe(receiver.url + "/in")
    runtime = hooks.runtime
    jobs_before = job_count(runtime)
    recorded: list[str] = []

    def change_that_fails() -> None:
        with runtime.db.begin() as conn:
            recorded.extend(service.publish(conn, runtime.queue, tenant=hooks.tenant, events=[
                service.Event("invoicing.invoice.generated", {
                    "invoiceLocator": "I-1", "accountLocator": "A-1", "jobLocator": "J"})],
                at=runtime.clock.now()))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert len(recorded) == 1  # recorded in the transaction, then rolled back with it
    with runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_events)).scalar() == 0
        assert conn.execute(
            sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar() == 0
    assert job_count(runtime) == jobs_before
    hooks.settle()
    assert receiver.got == []


def test_after_a_rotation_deliveries_carry_both_signatures(hooks: Hooks,
                                                           receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    new = hooks.client.post(f"{hooks.base}/{made['locator']}/rotateSecret",
                            headers=hooks.headers).json()["secret"]
    hooks.event("I-1")
    [delivery] = receiver.got
    assert len(delivery.headers["webhook-signature"].split()) == 2
    for secret in (made["secret"], new):
        Webhook(secret).verify(delivery.body, delivery.headers)


class Billed(Books):
    """A tenant with a delinquency configuration, subscribed to every event, and one policy
    billed in full, invoiced on 2026-12-17 and due 2027-01-01."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken,
                 receiver: Receiver) -> None:
        super().__init__(client, runtime, make_token, CONFIG + DELINQUENCY)
        self.receiver = receiver
        made = client.post(f"/platform/{self.tenant}/webhooks", headers=self.headers,
                           json={"url": receiver.url + "/in"})
        assert made.status_code == 201, made.text
        self.send(issuance("T-1", "P-1", "1200.00", plan="fullPay"))
        self.move_to("2027-01-02T12:00:00Z")
        [self.invoice] = self.get("invoices/accounts/A-1/list")["items"]

    def told(self, type_: str) -> list[dict[str, Any]]:
        return [d.event["data"] for d in self.receiver.of_type(type_)]


@pytest.fixture
def billed(client: TestClient, runtime: Runtime, make_token: MakeToken,
           receiver: Receiver) -> Billed:
    return Billed(client, runtime, make_token, receiver)


def test_billing_tells_of_invoices_delinquencies_events_and_payments(billed: Billed) -> None:
    invoice = billed.invoice["locator"]
    assert billed.told("invoicing.invoice.generated") == [
        {"invoiceLocator": invoice, "accountLocator": "A-1"}]
    assert {d["referenceType"] for d in billed.told("invoicing.job.finished")} == {"schedule"}
    [opened] = billed.told("delinquency.delinquency.created")
    assert (opened["invoiceLocator"], opened["accountLocator"]) == (invoice, "A-1")
    billed.move_to("2027-01-07T12:00:00Z")  # the reminder, 5 days into grace
    [fired] = billed.told("delinquency.event.fired")
    assert fired["delinquencyLocator"] == opened["delinquencyLocator"]
    billed.pay(billed.invoice, "1200.00")
    [paid] = billed.told("invoicing.payment.applied")
    assert (paid["invoiceLocator"], paid["accountLocator"]) == (invoice, "A-1")
    assert billed.told("delinquency.delinquency.settled") == [opened]
    billed.move_to("2027-02-02T12:00:00Z")  # grace ends settled: nothing more of it
    assert billed.told("delinquency.delinquency.lapseTriggered") == []
    assert len(billed.told("delinquency.delinquency.settled")) == 1


def test_a_grace_that_ends_unpaid_tells_of_the_lapse(billed: Billed) -> None:
    billed.move_to("2027-02-02T12:00:00Z")
    [opened] = billed.told("delinquency.delinquency.created")
    assert billed.told("delinquency.delinquency.lapseTriggered") == [opened]
    assert billed.told("delinquency.delinquency.settled") == []
    ready = billed.told("documents.document.ready")  # the reminder's notice
    assert ready
    assert {d["referenceType"] for d in ready} == {"invoice"}


def test_an_endpoint_that_hangs_delays_neither_other_endpoints_nor_other_jobs(
        hooks: Hooks, receiver: Receiver, make_token: MakeToken) -> None:
    hooks.subscribe(receiver.url + "/hangs", "invoicing.invoice.generated")
    hooks.subscribe(receiver.url + "/answers", "invoicing.invoice.generated")
    receiver.hang("/hangs")
    runtime = hooks.runtime
    with runtime.db.begin() as conn:
        service.publish(conn, runtime.queue, tenant=hooks.tenant, at=runtime.clock.now(),
                        events=[service.Event("invoicing.invoice.generated", {
                            "invoiceLocator": f"I-{i}", "accountLocator": "A-1"})
                            for i in range(40)])
    started = time.monotonic()
    wait_until(lambda: len([d for d in receiver.got if d.path == "/answers"]) == 40,
               timeout=10, what="the answering endpoint's 40 deliveries")
    assert time.monotonic() - started < 10  # not 15 s behind a hung attempt
    hanging = [d for d in receiver.got if d.path == "/hangs"]
    assert 1 <= len(hanging) <= 8  # half the delivery threads, at most, are held
    token = make_token(hooks.tenant, "events.write")
    job = ping(hooks.client, hooks.tenant, token, "P-1")
    wait_until(lambda: status(runtime, job) == "finished", timeout=5,
               what="another domain's job, beside the hung deliveries")


def test_the_openapi_describes_every_event_type_a_delivery_may_carry(hooks: Hooks) -> None:
    document = hooks.client.get("/openapi.json").json()
    assert set(document["webhooks"]) == {kind.name for kind in CATALOGUE}
    schemas = document["components"]["schemas"]
    for kind in CATALOGUE:
        body = document["webhooks"][kind.name]["post"]["requestBody"]["content"]
        event = schemas[body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        assert event["properties"]["type"]["const"] == kind.name
        data = schemas[event["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
        assert set(data["required"]) == set(kind.data)
    for path in ("", "/list", "/{locator}", "/{locator}/rotateSecret",
                 "/{locator}/deliveries/list", "/{locator}/resend"):
        assert f"/platform/{{tenantLocator}}/webhooks{path}" in document["paths"]


def dashboard(hooks: Tenanted, token: str, path: str, **params: str) -> Any:
    """A dashboard page, logged in with `token` as an operator would."""
    client = hooks.client
    client.cookies.clear()
    client.get("/dashboard/login")
    logged = client.post("/dashboard/login", follow_redirects=False, data={
        "token": token, "csrf": client.cookies.get(LOGIN_CSRF) or ""})
    assert logged.status_code == 303
    page = client.get(f"/dashboard{path}", params={"tenant": hooks.tenant, **params})
    client.cookies.clear()
    return page


def test_the_dashboard_shows_endpoints_and_every_attempt(hooks: Hooks, receiver: Receiver,
                                                         make_token: MakeToken) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED, description="the ledger")
    receiver.answer = lambda n, _: (500, b"ledger is down") if n == 0 else (204, b"")
    hooks.event("I-1")
    hooks.later(timedelta(seconds=6))
    reader = make_token(hooks.tenant, "jobs.read", "webhooks.read")
    listing = dashboard(hooks, reader, "/webhooks")
    assert listing.status_code == 200
    assert made["locator"] in listing.text
    assert "the ledger" in listing.text
    page = dashboard(hooks, reader, f"/webhooks/{made['locator']}")
    assert page.status_code == 200
    assert "ledger is down" in page.text
    assert page.text.count("<tr>") == 3  # the header, the retry that took it, the failure
    event = receiver.got[0].headers["webhook-id"]
    assert event in dashboard(hooks, reader, f"/webhooks/{made['locator']}", event=event).text
    refused = dashboard(hooks, make_token(hooks.tenant, "jobs.read"), "/webhooks")
    assert refused.status_code == 403
    assert "webhooks.read" in refused.text
    assert dashboard(hooks, reader, "/webhooks/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


@pytest.mark.parametrize(("mode", "says"), [
    ("garbage", "BadStatusLine: this is not HTTP"),
    ("close", "RemoteDisconnected: Remote end closed connection without response"),
    ("redirect", "redirected (302)")])
def test_a_receiver_that_answers_wrongly_fails_the_attempt_which_is_retried(
        hooks: Hooks, mode: str, says: str) -> None:
    wrong = RawReceiver(mode)
    try:
        made = hooks.subscribe(wrong.url, GENERATED)
        hooks.event("I-1")
        hooks.later(timedelta(seconds=6))
        attempts = hooks.attempts(made["locator"])
        assert len(attempts) == 2  # the first, and the retry 5 s later
        assert wrong.requests == 2
        for attempt in attempts:
            assert says in attempt["error"], attempt
            assert attempt["deliveryStatus"] == "pending"
        assert "failingSince" in hooks.endpoint(made["locator"])
    finally:
        wrong.close()


def test_a_failed_delivery_retried_is_made_again_with_its_events_id(
        hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda _n, _p: (500, b"")
    hooks.event("I-1")
    for _ in range(8):  # every attempt of its schedule: about 28 hours
        hooks.later(timedelta(hours=11))
    assert {a["deliveryStatus"] for a in hooks.attempts(made["locator"])} == {"failed"}
    receiver.answer = lambda _n, _p: (204, b"")
    done = act(hooks, "retry", kind=DELIVER, status="failed")
    assert (done["matched"], done["acted"]) == (1, 1)
    assert len(receiver.got) == 9
    assert len({d.headers["webhook-id"] for d in receiver.got}) == 1
    assert {a["deliveryStatus"] for a in hooks.attempts(made["locator"])} == {"succeeded"}
    assert act(hooks, "retry", kind=DELIVER)["skipped"] == {"not failed: finished": 1}


def test_a_delivery_whose_job_is_cancelled_is_cancelled_and_resent_on_request(
        hooks: Hooks, receiver: Receiver) -> None:
    made = hooks.subscribe(receiver.url + "/in", GENERATED)
    receiver.answer = lambda _n, _p: (500, b"")
    hooks.event("I-1")  # its first attempt fails; the next waits
    done = act(hooks, "cancel", kind=DELIVER, status="queued")
    assert done["acted"] == 1
    hooks.later(timedelta(hours=30))
    assert len(receiver.got) == 1
    assert {a["deliveryStatus"] for a in hooks.attempts(made["locator"])} == {"cancelled"}
    receiver.answer = lambda _n, _p: (204, b"")
    since = (hooks.runtime.clock.now() - timedelta(days=3)).isoformat()
    resent = hooks.client.post(f"{hooks.base}/{made['locator']}/resend", headers=hooks.headers,
                               json={"failedSince": since})
    assert len(resent.json()["deliveryLocators"]) == 1
    hooks.settle()
    assert len(receiver.got) == 2


def test_a_job_cancelled_before_it_ran_is_told_as_cancelled(hooks: Hooks,
                                                            receiver: Receiver) -> None:
    hooks.subscribe(receiver.url + "/in", "installments.job.cancelled", FINISHED)
    paused = hooks.client.post("/admin/pauses", headers=hooks.headers,
                               json={"kind": "installments", "tenantLocator": hooks.tenant})
    assert paused.status_code == 201, paused.text
    hooks.quote("Q-1")  # its installments job waits, paused
    assert act(hooks, "cancel", kind="installments", status="queued")["acted"] == 1
    hooks.settle()
    [told] = [d.event for d in receiver.got]
    assert told["type"] == "installments.job.cancelled"
    assert status(hooks.runtime, told["data"]["jobLocator"]) == "cancelled"
    assert (told["data"]["referenceType"], told["data"]["referenceLocator"]) == ("quote", "Q-1")
