"""Delinquency end to end on the test clock: grace, events, lapse, settlement, hold,
reschedule, cancellation, retirement, and the delinquency endpoints."""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policyjobs.engine import NIL_UUID
from policyjobs.intake.service import accept_events, validate_envelope
from policyjobs.invoicing.invoices import lock_invoice
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support.billing import CONFIG, DELINQUENCY, Books, issuance
from tests.support.engine_domain import clock_of, status
from tests.support.http import MakeToken, assert_problem, bearer

DUE = "2027-01-01T05:00:00.000Z"  # the fullPay invoice's due time: grace starts then
GRACE_END = "2027-01-31T05:00:00.000Z"
VENDOR = Path(__file__).resolve().parents[3] / "shared" / "spec" / "vendor-jobs-openapi.json"


class Collections(Books):
    """A tenant with one unpaid fullPay invoice due 2027-01-01, and its delinquency."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
        super().__init__(client, runtime, make_token, CONFIG + DELINQUENCY)
        self.send(issuance("T-1", "P-1", "1200.00", plan="fullPay"))
        self.move_to("2027-01-02T12:00:00Z")  # invoiced 2026-12-17, due and unpaid
        [self.invoice] = self.get("invoices/accounts/A-1/list")["items"]
        [self.delinquency] = self.get(
            f"delinquencies/invoices/{self.invoice['locator']}/list")["items"]

    @property
    def locator(self) -> str:
        return str(self.delinquency["locator"])

    def state(self) -> str:
        return str(self.get(f"delinquencies/{self.locator}")["delinquencyState"])

    def event_jobs(self) -> dict[str, dict[str, Any]]:
        """The event jobs by event name."""
        names = {e["locator"]: e["name"]
                 for e in self.get(f"delinquencies/{self.locator}/events/list")["items"]}
        jobs = self.get(f"jobs/delinquencies/{self.locator}/events/list")["items"]
        return {names[job["delinquencyEventLocator"]]: job for job in jobs}

    def grace_jobs(self) -> list[dict[str, Any]]:
        return list(self.get(f"jobs/delinquencies/{self.locator}/list")["items"])

    def pay_invoice(self, amount: str = "1200.00") -> None:
        """Pay the delinquent invoice."""
        self.pay(self.invoice, amount)


@pytest.fixture
def books(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Collections:
    """A delinquency in grace since 2027-01-01, its events pending."""
    return Collections(client, runtime, make_token)


def test_an_unpaid_invoice_lapses_after_its_events_fire(books: Collections) -> None:
    delinquency = books.delinquency
    assert (delinquency["delinquencyState"], delinquency["graceStartedAt"],
            delinquency["graceEndAt"]) == ("inGrace", DUE, GRACE_END)
    assert delinquency["settings"] == {"advanceLapseTo": "issued", "gracePeriodDays": 30,
                                       "lapseTransactionType": "lapse",
                                       "delinquencyLevel": "invoice"}
    assert [e["name"] for e in delinquency["configuredDelinquencyEvents"]] == [
        "reminder", "finalNotice"]
    [create] = books.get(f"jobs/delinquencies/invoices/{books.invoice['locator']}/list")["items"]
    assert (create["dueTime"], create["delinquencyLocators"], create["jobStatus"]) == (
        DUE, [books.locator], "finished")

    books.move_to("2027-02-01T12:00:00Z")

    jobs = books.event_jobs()
    assert {name: job["triggerTime"] for name, job in jobs.items()} == {
        "reminder": "2027-01-06T05:00:00.000Z", "finalNotice": "2027-01-24T05:00:00.000Z"}
    assert {job["jobStatus"] for job in jobs.values()} == {"finished"}
    assert not any(job.get("cancelled") for job in jobs.values())
    events = books.get(f"delinquencies/{books.locator}/events/list")
    assert {e["delinquencyEventState"] for e in events["items"]} == {"triggered"}
    assert events["accountLocator"] == "A-1"
    [grace] = books.grace_jobs()
    assert (grace["outcome"], grace["jobStatus"]) == ("lapseTriggered", "finished")
    assert books.state() == "lapseTriggered"
    notice = books.client.get(
        f"/document/{books.tenant}/documents/invoices/{books.invoice['locator']}/jobs",
        headers=books.headers).json()
    detail = books.client.get(f"/document/{books.tenant}/documents/invoices/"
                              f"{books.invoice['locator']}/jobs/{notice['locator']}",
                              headers=books.headers).json()
    [document] = detail["documents"]
    text = books.client.get(f"/document/{books.tenant}/documents/{document['locator']}"
                            "/document", headers=books.headers).text
    assert text == f"Pay invoice {books.invoice['locator']} by {GRACE_END[:19]}+00:00"


def test_a_payment_mid_grace_settles_and_cancels_pending_events(books: Collections) -> None:
    books.move_to("2027-01-10T12:00:00Z")  # the reminder has fired
    books.pay_invoice()

    jobs = books.event_jobs()
    assert books.state() == "settled"
    assert "cancelled" not in jobs["reminder"]
    assert (jobs["finalNotice"]["cancelled"], jobs["finalNotice"]["cancellationType"],
            jobs["finalNotice"]["jobStatus"]) == (True, "delinquencySettled", "finished")
    books.move_to("2027-02-01T12:00:00Z")
    [grace] = books.grace_jobs()
    assert grace["outcome"] == "settled"
    assert books.state() == "settled"


def test_a_partial_payment_settles_nothing(books: Collections) -> None:
    books.pay_invoice("100.00")
    books.move_to("2027-02-01T12:00:00Z")
    assert books.state() == "lapseTriggered"


def test_a_hold_cancels_the_pending_events_and_the_lapse(books: Collections) -> None:
    books.send({"type": "delinquencyHold", "delinquencyLocator": books.locator})
    books.move_to("2027-02-01T12:00:00Z")

    jobs = books.event_jobs()
    assert {job["cancellationType"] for job in jobs.values()} == {"delinquencyHeld"}
    assert books.state() == "inGrace"
    [grace] = books.grace_jobs()
    assert grace["jobStatus"] == "finished"
    assert "outcome" not in grace
    assert grace["updatedAt"] > grace["createdAt"]  # when the hold cancelled it
    body = books.send({"type": "delinquencyHold", "delinquencyLocator": books.locator},
                      status=409)
    assert "held" in body["detail"]


def test_a_reschedule_moves_the_grace_end_and_the_events_counted_from_it(
        books: Collections) -> None:
    [receipt] = books.send({"type": "delinquencyReschedule", "delinquencyLocator": books.locator,
                            "graceEndTime": "2027-03-03T05:00:00Z"})["events"]

    jobs = books.get(f"jobs/delinquencies/{books.locator}/events/list")["items"]
    old = next(job for job in jobs if job.get("cancellationType") == "rescheduled")
    new = next(job for job in jobs if job["locator"] == old["rescheduledByLocator"])
    assert (old["cancelled"], old["triggerTime"]) == (True, "2027-01-24T05:00:00.000Z")
    assert new["triggerTime"] == "2027-02-24T05:00:00.000Z"
    assert new["updatedDelinquencyEventLocators"] == [old["delinquencyEventLocator"]]
    assert {j["locator"] for j in receipt["jobs"]} >= {new["locator"]}
    assert books.get(f"delinquencies/{books.locator}")["graceEndAt"] == "2027-03-03T05:00:00.000Z"
    books.move_to("2027-02-15T12:00:00Z")
    assert books.state() == "inGrace"  # the first grace end passed, the new one has not
    books.move_to("2027-03-04T12:00:00Z")
    assert books.state() == "lapseTriggered"
    graces = books.grace_jobs()
    assert [g.get("outcome") for g in graces] == [None, "lapseTriggered"]
    # cancelled as its successor came
    assert graces[0]["createdAt"] < graces[0]["updatedAt"] <= graces[1]["createdAt"]


def test_cancelling_one_event_and_then_again(books: Collections) -> None:
    event = next(e for e in books.get(f"delinquencies/{books.locator}/events/list")["items"]
                 if e["name"] == "finalNotice")
    books.send({"type": "delinquencyEventCancel", "delinquencyEventLocator": event["locator"]})

    jobs = books.event_jobs()
    assert jobs["finalNotice"]["cancellationType"] == "cancellationRequested"
    assert "cancelled" not in jobs["reminder"]
    assert books.get(f"delinquencies/events/{event['locator']}")[
        "delinquencyEventState"] == "cancelled"
    again = books.send({"type": "delinquencyEventCancel",
                        "delinquencyEventLocator": event["locator"]}, status=409)
    assert "already cancelled" in again["detail"]


def test_cancelling_what_already_fired_is_409(books: Collections) -> None:
    books.move_to("2027-01-10T12:00:00Z")
    reminder = next(e for e in books.get(f"delinquencies/{books.locator}/events/list")["items"]
                    if e["name"] == "reminder")
    body = books.send({"type": "delinquencyEventCancel",
                       "delinquencyEventLocator": reminder["locator"]}, status=409)
    assert "already triggered" in body["detail"]


def test_retiring_the_tenant_cancels_its_pending_events(books: Collections) -> None:
    books.runtime.retire_tenant(books.tenant)
    jobs = books.event_jobs()
    assert {job["cancellationType"] for job in jobs.values()} == {"tenantRetired"}
    assert {job["jobStatus"] for job in jobs.values()} == {"finished"}
    [grace] = books.grace_jobs()
    assert grace["jobStatus"] == "finished"
    assert grace["updatedAt"] > grace["createdAt"]


def test_a_payment_and_a_grace_end_that_race_resolve_to_one_outcome(
        books: Collections) -> None:
    runtime = books.runtime
    runtime.stop_workers()
    clock_of(runtime).set(datetime(2027, 2, 1, 12, tzinfo=UTC))  # grace has ended, no worker
    [grace] = books.grace_jobs()
    envelope = validate_envelope({"type": "payment", "invoiceLocator": books.invoice["locator"],
                                  "amount": "1200.00", "currency": "USD"}, runtime.events)
    with runtime.db.begin() as conn:  # a payment in flight holds the invoice
        lock_invoice(conn, tenant=books.tenant, locator=books.invoice["locator"])
        starter = threading.Thread(target=runtime.start_workers)
        starter.start()  # the grace job starts, and waits for the invoice
        if runtime.db.dialect.name == "postgresql":  # SQLite's claim waits for the commit
            wait_until(lambda: status(runtime, grace["locator"]) == "leased",
                       what="the grace job to start")
        accept_events(conn, runtime.queue, tenant=books.tenant, created_by=NIL_UUID,
                      events=envelope)
    starter.join()
    books.settle()
    [grace] = books.grace_jobs()
    assert (grace["outcome"], books.state()) == ("settled", "settled")


def test_an_invoice_paid_by_its_due_time_is_checked_without_waiting_for_its_lock(
        client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
    books = Books(client, runtime, make_token, CONFIG + DELINQUENCY)
    books.send(issuance("T-1", "P-1", "1200.00", plan="fullPay"))
    books.move_to("2026-12-20T12:00:00Z")  # invoiced 2026-12-17, due 2027-01-01
    [invoice] = books.invoices()
    books.pay(invoice, "1200.00")
    # On PostgreSQL another payment's transaction holds the invoice while the check runs: a
    # settled invoice stays settled, so the check need not wait for it (on SQLite a writer
    # holds the whole store, so nothing else runs beside it).
    postgresql = runtime.db.dialect.name == "postgresql"
    with runtime.db.begin() if postgresql else nullcontext() as conn:
        if conn is not None:
            lock_invoice(conn, tenant=books.tenant, locator=invoice["locator"])
        books.move_to("2027-01-02T12:00:00Z")
    [check] = books.get(f"jobs/delinquencies/invoices/{invoice['locator']}/list")["items"]
    assert (check["dueTime"], check["delinquencyLocators"], check["jobStatus"]) == (
        DUE, [], "finished")
    assert books.get(f"delinquencies/invoices/{invoice['locator']}/list")["items"] == []


@pytest.mark.parametrize(("method", "path", "permission"), [
    ("GET", "jobs/delinquencies/D/list", "delinquencies.read"),
    ("GET", "jobs/delinquencies/invoices/I/list", "delinquencies.read"),
    ("GET", "jobs/delinquencies/D/events/list", "delinquencies.read"),
    ("GET", "delinquencies/D", "jobs.read"),
    ("GET", "delinquencies/invoices/I/list", "jobs.read"),
    ("GET", "delinquencies/events/E", "jobs.read"),
    ("GET", "delinquencies/D/events/list", "delinquencies.read"),
])
def test_every_endpoint_guards_itself(books: Collections, client: TestClient,
                                      make_token: MakeToken, method: str, path: str,
                                      permission: str) -> None:
    url = f"/billing/{books.tenant}/{path}"
    assert_problem(client.request(method, url), 401)
    other = make_token(books.runtime.create_tenant(books.runtime.tenant_configs.load("")),
                       "admin")
    assert_problem(client.request(method, url, headers=bearer(other)), 403)
    assert_problem(client.request(method, url,
                                  headers=bearer(make_token(books.tenant, permission))), 403)
    assert_problem(client.request(method, f"/billing/not-a-uuid/{path}",
                                  headers=books.headers), 400)


@pytest.mark.parametrize("path", ["delinquencies/01NOSUCH0000000000000000000",
                                  "delinquencies/events/01NOSUCH0000000000000000000",
                                  "delinquencies/01NOSUCH0000000000000000000/events/list"])
def test_unknown_delinquencies_and_events_are_404(books: Collections, path: str) -> None:
    assert_problem(books.client.get(f"/billing/{books.tenant}/{path}", headers=books.headers),
                   404)


def test_lists_of_unknown_references_are_empty(books: Collections) -> None:
    for path in ("jobs/delinquencies/D-0/list", "jobs/delinquencies/invoices/I-0/list",
                 "jobs/delinquencies/D-0/events/list", "delinquencies/invoices/I-0/list"):
        assert books.get(path) == {"listCompleted": True, "items": []}
    assert books.get("jobs/delinquencies/invoices/I-0/list", extended="false") == []


@pytest.mark.parametrize(("event", "field"), [
    ({"type": "delinquencyHold", "delinquencyLocator": "01NOSUCH"}, "delinquencyLocator"),
    ({"type": "delinquencyEventCancel", "delinquencyEventLocator": "01NOSUCH"},
     "delinquencyEventLocator"),
    ({"type": "delinquencyReschedule", "delinquencyLocator": "D", "graceEndTime": "soon"},
     "graceEndTime"),
])
def test_bad_requests_are_400_naming_the_field(books: Collections, event: dict[str, Any],
                                               field: str) -> None:
    response = books.client.post(f"/platform/{books.tenant}/events", headers=books.headers,
                                 json=event)
    assert f"events[0].{field}" in {e["field"] for e in assert_problem(response, 400)["errors"]}


def test_a_grace_end_before_its_start_is_400(books: Collections) -> None:
    response = books.client.post(f"/platform/{books.tenant}/events", headers=books.headers,
                                 json={"type": "delinquencyReschedule",
                                       "delinquencyLocator": books.locator,
                                       "graceEndTime": "2026-12-01T00:00:00Z"})
    assert "events[0].graceEndTime" in {e["field"]
                                        for e in assert_problem(response, 400)["errors"]}


def test_the_endpoints_are_the_vendors(client: TestClient) -> None:
    """Same paths, operation ids, security and query parameters as the vendor's OpenAPI."""
    vendor = json.loads(VENDOR.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    paths = [p for p in vendor if "delinquencies" in p and "moratorium" not in p]
    assert len(paths) == 7
    for path in paths:
        theirs, mine = vendor[path]["get"], ours[path]["get"]
        assert mine["operationId"] == theirs["operationId"]
        assert mine["x-securityGroup"] == theirs["x-securityGroup"]
        assert mine["x-securityPermission"] == theirs["x-securityPermission"]
        query = {p["name"] for p in theirs["parameters"] if p["in"] == "query"}
        assert {p["name"] for p in mine.get("parameters", []) if p["in"] == "query"} == query


def test_the_vendors_moratorium_jobs_are_a_route_this_service_lacks(books: Collections) -> None:
    path = f"/billing/{books.tenant}/jobs/delinquencies/moratoriums/list"
    body = assert_problem(books.client.get(path, headers=books.headers), 404)
    assert body["detail"] == f"no route for GET {path}"
