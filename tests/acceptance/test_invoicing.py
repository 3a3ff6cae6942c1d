"""Invoicing end to end on the test clock: the daily schedule, early and immediate invoicing,
payments, and the invoicing endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.engine import new_locator
from policyjobs.engine.schema import jobs
from policyjobs.invoicing.models import GENERATION, INSTANCE, invoicing_jobs
from policyjobs.invoicing.service import schedule_key
from policyjobs.runtime import Runtime
from tests.support.billing import CONFIG, Books, issuance, money
from tests.support.engine_domain import clock_of, fail_for_good, job_row, status
from tests.support.http import MakeToken, assert_problem, bearer
from tests.support.operations import act

NY = ZoneInfo("America/New_York")
NOTICE = """
documents:
  definitions:
    - staticName: invoiceNotice
      name: Invoice notice
      trigger: generated
      scope: invoice
      format: text
      template: >-
        Invoice {{ invoice.locator }} of {{ invoice.totalAmount }}{% for i in
        invoice.invoiceItems %} {{ i.chargeType }}={{ i.amount }}{% endfor %}
"""


@pytest.fixture
def books(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Books:
    """A tenant billed monthly, its clock at the start of December 2026."""
    return Books(client, runtime, make_token)


def test_a_year_of_monthly_billing_makes_twelve_invoices_that_sum_to_the_premium(
        books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1000.00"))
    books.move_to("2028-01-02T12:00:00Z")

    invoices = books.invoices()
    installments = books.installments("T-1")

    assert len(invoices) == 12
    assert sum(money(i["totalAmount"]) for i in invoices) == Decimal("1000.00")
    assert [money(i["totalAmount"]) for i in invoices] == [
        money(i["installmentItems"][0]["amount"]) for i in installments]
    for invoice, installment in zip(invoices, installments, strict=True):
        generated = datetime.fromisoformat(invoice["generatedTime"])
        generate = datetime.fromisoformat(installment["generateTime"])
        assert generated.astimezone(NY).time() == time(2, 0)  # the run's, in New York
        assert generate <= generated < generate + timedelta(days=1)  # the first run after
        assert invoice["dueTime"] == installment["dueTime"]
        assert invoice["invoiceState"] == "open"
        assert invoice["totalRemainingAmount"] == invoice["totalAmount"]
        assert [item["installmentItemLocators"] for item in invoice["invoiceItems"]] == [
            [item["locator"] for item in installment["installmentItems"]]]
        assert books.get(f"installments/{installment['locator']}")[
            "invoiceLocator"] == invoice["locator"]
    runs = books.get("jobs/invoices/policies/P-1/list", count=1000)["items"]
    assert len(runs) == 12  # the runs that invoiced the policy, each with its instance
    assert all(len(run["invoiceGenerationInstances"]) == 1 for run in runs)
    assert [run["invoiceGenerationInstances"][0]["invoiceLocator"] for run in runs] == [
        invoice["locator"] for invoice in invoices]


def test_two_policies_of_one_account_share_invoices_and_two_currencies_do_not(
        books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1200.00"), issuance("T-2", "P-2", "600.00"),
               issuance("T-3", "P-3", "240.00", currency="EUR"),
               issuance("T-4", "P-4", "120.00", account="A-2"))
    books.move_to("2027-01-01T12:00:00Z")  # the first installments' generate time has come

    invoices = books.invoices()

    assert sorted((i["currency"], money(i["totalAmount"])) for i in invoices) == [
        ("EUR", Decimal("20.00")), ("USD", Decimal("150.00"))]
    usd = next(i for i in invoices if i["currency"] == "USD")
    assert sorted(item["policyLocator"] for item in usd["invoiceItems"]) == ["P-1", "P-2"]
    assert [money(i["totalAmount"]) for i in books.invoices("A-2")] == [Decimal("10.00")]


def test_early_invoicing_bills_named_future_installments_now(books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1200.00"))
    future = books.installments("T-1")[3:5]
    response = books.client.post(
        f"/billing/{books.tenant}/invoices/earlyInvoicing", headers=books.headers,
        json={"installmentLocators": [i["locator"] for i in future], "ignoreHolds": False,
              "invoiceDueTime": "2027-01-15T05:00:00Z"})
    assert response.status_code == 200, response.text
    started = response.json()
    assert started["candidateInstallmentsCount"] == 2
    books.settle()

    job = books.get(f"jobs/earlyInvoicing/{started['jobLocator']}")
    [invoice] = books.invoices()

    assert job["jobStatus"] == "finished"
    assert job["invoiceLocators"] == [invoice["locator"]]
    assert job["earlyInvoicingGenerationData"]["installmentsToBeInvoiced"] == [
        i["locator"] for i in future]
    assert money(invoice["totalAmount"]) == Decimal("200.00")
    assert invoice["dueTime"] == "2027-01-15T05:00:00.000Z"
    same = books.get(f"jobs/invoicing/{started['jobLocator']}")
    assert same["invoicingData"]["invoicingType"] == "early"
    listed = books.get("jobs/earlyInvoicing/accounts/A-1/list")["items"]
    assert [item["locator"] for item in listed] == [started["jobLocator"]]


def test_early_invoicing_of_nothing_finishes_with_no_invoice(books: Books) -> None:
    response = books.client.post(
        f"/billing/{books.tenant}/invoices/earlyInvoicing", headers=books.headers,
        json={"installmentLocators": [], "ignoreHolds": True, "accountLocator": "A-9"})
    assert response.json()["candidateInstallmentsCount"] == 0
    books.settle()
    job = books.get(f"jobs/invoicing/{response.json()['jobLocator']}")
    assert (job["jobStatus"], job["invoiceLocators"], job.get("processingErrors")) == (
        "finished", [], None)


def test_immediate_invoicing_bills_what_has_come_due_in_each_currency(books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1200.00"), issuance("T-2", "P-2", "120.00",
                                                           currency="EUR"))
    with books.runtime.db.begin() as conn:  # no generation run: only this invoicing bills
        books.runtime.queue.unschedule(conn, schedule_key(books.tenant))
    clock_of(books.runtime).set(datetime(2027, 2, 20, tzinfo=UTC))
    [receipt] = books.send({"type": "immediateInvoicing", "accountLocator": "A-1",
                            "currencies": ["USD"]})["events"]
    books.settle()

    job = books.get(f"jobs/invoicing/{receipt['jobs'][0]['locator']}")
    [invoice] = books.invoices()

    assert job["invoicingData"] == {"invoicingType": "immediate", "accountLocator": "A-1",
                                    "currencies": ["USD"]}
    assert job["invoiceLocators"] == [invoice["locator"]]
    assert money(invoice["totalAmount"]) == Decimal("300.00")  # January to March generated
    assert [j["locator"] for j in books.get("jobs/invoicing/accounts/A-1/list")["items"]] == [
        job["locator"]]


def test_payments_settle_an_invoice_once_they_reach_its_total(books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1200.00"))
    books.move_to("2027-01-01T12:00:00Z")
    [invoice] = books.invoices()

    assert books.pay(invoice, "40.00") == {"events": [{"jobs": []}]}
    partly = books.get(f"invoices/{invoice['locator']}")
    books.pay(invoice, "60.00")
    settled = books.get(f"invoices/{invoice['locator']}")

    assert (partly["invoiceState"], money(partly["totalRemainingAmount"])) == (
        "open", Decimal("60.00"))
    assert "settledTime" not in partly
    assert (settled["invoiceState"], money(settled["totalRemainingAmount"])) == (
        "settled", Decimal("0"))
    assert datetime.fromisoformat(settled["settledTime"]) <= books.runtime.clock.now()
    assert money(settled["invoiceItems"][0]["remainingAmount"]) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"invoiceLocator": "01NOSUCHINVOICE00000000000"}, "events[0].invoiceLocator"),
    ({"currency": "EUR"}, "events[0].currency"),
    ({"amount": "1.001"}, "events[0].amount"),
    ({"amount": "-5"}, "events[0].amount"),
    ({"amount": "NaN"}, "events[0].amount"),
])
def test_bad_payments_are_400_naming_the_field(books: Books, change: dict[str, str],
                                                field: str) -> None:
    books.send(issuance("T-1", "P-1", "1200.00"))
    books.move_to("2027-01-01T12:00:00Z")
    [invoice] = books.invoices()
    payment = {"type": "payment", "invoiceLocator": invoice["locator"], "amount": "10.00",
               "currency": "USD", **change}

    body = assert_problem(books.client.post(f"/platform/{books.tenant}/events",
                                            headers=books.headers, json=payment), 400)

    assert field in {e["field"] for e in body["errors"]}
    assert books.get(f"invoices/{invoice['locator']}")["totalRemainingAmount"] == 100


def test_an_invoice_renders_its_documents(client: TestClient, runtime: Runtime,
                                          make_token: MakeToken) -> None:
    books = Books(client, runtime, make_token, CONFIG + NOTICE)
    books.send(issuance("T-1", "P-1", "1200.00"))
    books.move_to("2027-01-01T12:00:00Z")
    [invoice] = books.invoices()

    job = client.get(f"/document/{books.tenant}/documents/invoices/{invoice['locator']}/jobs",
                     headers=books.headers).json()
    detail = client.get(f"/document/{books.tenant}/documents/invoices/{invoice['locator']}/"
                        f"jobs/{job['locator']}", headers=books.headers).json()
    [document] = detail["documents"]
    text = client.get(f"/document/{books.tenant}/documents/{document['locator']}/document",
                      headers=books.headers).text

    assert (job["referenceType"], job["status"], detail["documentTrigger"]) == (
        "invoice", "finished", "generated")
    assert text == f"Invoice {invoice['locator']} of 100.00 premium=100.00"


@pytest.mark.parametrize(("method", "path", "permission"), [
    ("GET", "jobs/invoices/quotes/Q/list", "jobs.read"),
    ("GET", "jobs/invoices/policies/P/list", "jobs.read"),
    ("GET", "jobs/invoicing/accounts/A/list", "jobs.read"),
    ("GET", "jobs/invoicing/01NOSUCHJOB000000000000000", "invoices.read"),
    ("GET", "jobs/earlyInvoicing/01NOSUCHJOB000000000000000", "invoices.read"),
    ("GET", "jobs/earlyInvoicing/accounts/A/list", "jobs.read"),
    ("GET", "invoices/01NOSUCHINVOICE00000000000", "jobs.read"),
    ("GET", "invoices/accounts/A/list", "invoices.read"),
    ("GET", "accounts/A/credit", "jobs.read"),
    ("POST", "invoices/earlyInvoicing", "invoices.read"),
])
def test_every_endpoint_guards_itself(books: Books, client: TestClient, make_token: MakeToken,
                                      method: str, path: str, permission: str) -> None:
    url = f"/billing/{books.tenant}/{path}"
    body = {"installmentLocators": [], "ignoreHolds": False, "accountLocator": "A"}
    assert_problem(client.request(method, url), 401)
    other = make_token(books.runtime.create_tenant(books.runtime.tenant_configs.load("")),
                       "admin")
    assert_problem(client.request(method, url, headers=bearer(other), json=body), 403)
    wrong = make_token(books.tenant, permission)
    assert_problem(client.request(method, url, headers=bearer(wrong), json=body), 403)
    bad = f"/billing/not-a-uuid/{path}"
    assert_problem(client.request(method, bad, headers=books.headers, json=body), 400)


@pytest.mark.parametrize("path", ["jobs/invoicing/01NOSUCHJOB000000000000000",
                                  "jobs/earlyInvoicing/01NOSUCHJOB000000000000000",
                                  "invoices/01NOSUCHINVOICE00000000000"])
def test_unknown_jobs_and_invoices_are_404(books: Books, path: str) -> None:
    assert_problem(books.client.get(f"/billing/{books.tenant}/{path}", headers=books.headers),
                   404)


def test_an_immediate_job_is_not_an_early_one(books: Books) -> None:
    [receipt] = books.send({"type": "immediateInvoicing", "accountLocator": "A-1",
                            "currencies": ["USD"]})["events"]
    books.settle()
    assert_problem(books.client.get(
        f"/billing/{books.tenant}/jobs/earlyInvoicing/{receipt['jobs'][0]['locator']}",
        headers=books.headers), 404)


@pytest.mark.parametrize(("body", "field"), [
    ({"ignoreHolds": False}, "installmentLocators"),
    ({"installmentLocators": []}, "ignoreHolds"),
    ({"installmentLocators": [], "ignoreHolds": False}, "accountLocator"),
    ({"installmentLocators": ["bad locator!"], "ignoreHolds": False}, "installmentLocators[0]"),
    ({"installmentLocators": ["NO-SUCH"], "ignoreHolds": False, "accountLocator": "A-1"},
     "installmentLocators[0]"),
    ({"installmentLocators": [], "ignoreHolds": "yes", "accountLocator": "A"}, "ignoreHolds"),
    ({"installmentLocators": [], "ignoreHolds": 1, "accountLocator": "A"}, "ignoreHolds"),
    ({"installmentLocators": [], "ignoreHolds": False, "accountLocator": "A",
      "extra": 1}, "extra"),
    ({"installmentLocators": [], "ignoreHolds": False, "accountLocator": "A",
      "invoiceDueTime": "tomorrow"}, "invoiceDueTime"),
    ({"installmentLocators": [], "ignoreHolds": False, "accountLocator": "A",
      "timezone": "Mars/Olympus"}, "timezone"),
])
def test_bad_early_invoicing_requests_are_400(books: Books, body: dict[str, Any],
                                              field: str) -> None:
    response = books.client.post(f"/billing/{books.tenant}/invoices/earlyInvoicing",
                                 headers=books.headers, json=body)
    assert field in {e["field"] for e in assert_problem(response, 400)["errors"]}


def test_lists_page_and_answer_empty_for_unknown_references(books: Books) -> None:
    for path in ("jobs/invoices/quotes/Q-0/list", "jobs/invoices/policies/P-0/list",
                 "jobs/invoicing/accounts/A-0/list", "jobs/earlyInvoicing/accounts/A-0/list"):
        assert books.get(path) == {"listCompleted": True, "items": []}
    assert books.get("invoices/accounts/A-0/list") == {"listCompleted": True, "items": []}
    assert books.get("invoices/accounts/A-0/list", extended="false") == []
    books.send(issuance("T-1", "P-1", "1200.00"))
    books.move_to("2027-03-01T12:00:00Z")
    page = books.get("invoices/accounts/A-1/list", count=2)
    assert (page["listCompleted"], len(page["items"])) == (False, 2)
    assert "invoiceItems" not in page["items"][0]


VENDOR = Path(__file__).resolve().parents[3] / "shared" / "spec" / "vendor-jobs-openapi.json"


def test_the_endpoints_are_the_vendors(client: TestClient) -> None:
    """Same paths, operation ids, security and query parameters as the vendor's OpenAPI."""
    vendor = json.loads(VENDOR.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    paths = {"/billing/{tenantLocator}/jobs/invoicing/accounts/{locator}/list": "get",
             "/billing/{tenantLocator}/jobs/invoicing/{jobLocator}": "get",
             "/billing/{tenantLocator}/invoices/{locator}": "get",
             "/billing/{tenantLocator}/invoices/accounts/{accountLocator}/list": "get",
             "/billing/{tenantLocator}/invoices/earlyInvoicing": "post"}
    for path, method in paths.items():
        theirs, mine = vendor[path][method], ours[path][method]
        assert mine["operationId"] == theirs["operationId"]
        assert mine["x-securityGroup"] == theirs["x-securityGroup"]
        assert mine["x-securityPermission"] == theirs["x-securityPermission"]
        query = {p["name"] for p in theirs["parameters"] if p["in"] == "query"}
        assert {p["name"] for p in mine.get("parameters", []) if p["in"] == "query"} == query
    early = ours["/billing/{tenantLocator}/invoices/earlyInvoicing"]["post"]
    body = early["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/EarlyInvoicingRequest")


def test_an_instance_that_failed_is_retried_into_its_one_invoice(books: Books) -> None:
    books.send(issuance("T-1", "P-1", "1000.00"))
    paused = books.client.post("/admin/pauses", headers=books.headers,
                               json={"kind": INSTANCE, "tenantLocator": books.tenant})
    assert paused.status_code == 201, paused.text
    books.move_to("2027-01-02T12:00:00Z")  # January's run: its instance waits, paused
    [instance] = jobs_of(books, INSTANCE)
    fail_for_good(books.runtime, instance)
    run = job_row(books.runtime.db, instance)["parent_locator"]
    assert status(books.runtime, run) == "failed"  # its child failed
    # Resumed, the next run (unblocked by this one's failure) may bill the installments
    # first; the retried instance then finds nothing left to bill. Either way, one invoice.
    books.client.delete(f"/admin/pauses/{paused.json()['locator']}", headers=books.headers)
    # The run retried first runs again and makes no second instance: it fails again.
    assert act(books, "retry", kind=GENERATION, status="failed")["acted"] == 1
    with books.runtime.db.connect() as conn:
        assert list(conn.execute(sa.select(jobs.c.locator).where(
            jobs.c.parent_locator == run)).scalars()) == [instance]
    assert status(books.runtime, run) == "failed"
    assert act(books, "retry", kind=INSTANCE, status="failed")["acted"] == 1
    [invoice] = books.invoices()
    # The instance's retry reopened the run its failure had failed, and the run ended.
    assert status(books.runtime, run) == "finished"
    assert act(books, "retry", instance)["skipped"] == {"not failed: finished": 1}
    assert [i["locator"] for i in books.invoices()] == [invoice["locator"]]  # still the one


def test_an_instance_whose_payload_names_no_invoice_invoices_under_its_data_rows(
        books: Books) -> None:
    """An instance made before the payload named its invoice, still queued after an
    upgrade, takes the invoice's locator from its data row."""
    books.send(issuance("T-1", "P-1", "1000.00"))
    paused = books.client.post("/admin/pauses", headers=books.headers,
                               json={"kind": INSTANCE, "tenantLocator": books.tenant})
    books.move_to("2027-01-02T12:00:00Z")  # January's run: its instance waits, paused
    [instance] = jobs_of(books, INSTANCE)
    invoice = new_locator()
    payload = dict(job_row(books.runtime.db, instance)["payload"])
    assert payload.pop("invoiceLocator")
    with books.runtime.db.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.locator == instance).values(payload=payload))
        conn.execute(invoicing_jobs.update().where(invoicing_jobs.c.job_locator == instance)
                     .values(invoice_locator=invoice))
    books.client.delete(f"/admin/pauses/{paused.json()['locator']}", headers=books.headers)
    books.settle()
    assert [i["locator"] for i in books.invoices()] == [invoice]


def jobs_of(books: Books, kind: str) -> list[str]:
    with books.runtime.db.connect() as conn:
        return list(conn.execute(sa.select(jobs.c.locator).where(
            jobs.c.tenant == books.tenant, jobs.c.kind == kind)).scalars())


def test_a_runs_instances_claimed_together_make_the_invoices_each_would_alone(
        books: Books) -> None:
    """Paused until the run has made them all, a run's instances are claimed together and
    run as batches (`run_instances`): each account gets its invoice, an account's credit
    pays its own invoice and no other, and each invoice gets its due-time check, which
    opens its delinquency (the checks come due together, and run as batches too)."""
    accounts = [f"A-{n}" for n in range(1, 9)]
    books.send(*[issuance(f"T-{n}", f"P-{n}", f"{1200 + 120 * n}.00", account=account)
                 for n, account in enumerate(accounts, 1)])
    books.move_to("2027-01-02T12:00:00Z")  # January's invoices, one each
    [january] = books.invoices("A-3")
    books.pay(january, str(money(january["totalAmount"]) + Decimal("7.00")))  # 7.00 of credit
    paused = books.client.post("/admin/pauses", headers=books.headers,
                               json={"kind": INSTANCE, "tenantLocator": books.tenant})
    books.move_to("2027-02-02T12:00:00Z")  # February's run: its instances wait, paused
    assert len(jobs_of(books, INSTANCE)) == 2 * len(accounts)
    books.client.delete(f"/admin/pauses/{paused.json()['locator']}", headers=books.headers)
    books.settle()

    for n, account in enumerate(accounts, 1):
        january, february = books.invoices(account)
        second = books.installments(f"T-{n}")[1]
        assert money(february["totalAmount"]) == money(second["installmentItems"][0]["amount"])
        assert [item["policyLocator"] for item in february["invoiceItems"]] == [f"P-{n}"]
        paid = money(february["totalAmount"]) - money(february["totalRemainingAmount"])
        assert paid == (Decimal("7.00") if account == "A-3" else 0)
        opened = books.get(f"delinquencies/invoices/{february['locator']}/list")["items"]
        assert [d["delinquencyState"] for d in opened] == ["inGrace"]  # due, and unpaid
    with books.runtime.db.connect() as conn:
        checked = conn.execute(sa.select(jobs.c.reference_locator).where(
            jobs.c.tenant == books.tenant, jobs.c.kind == "delinquency.create")).scalars()
        counted = sorted(checked)
    invoiced = sorted(i["locator"] for a in accounts for i in books.invoices(a))
    assert counted == invoiced  # one check an invoice
    assert money(books.get("accounts/A-3/credit")["amount"]) == 0
