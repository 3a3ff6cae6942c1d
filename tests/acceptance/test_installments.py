"""Installments jobs end to end: intake, lattices, re-pricing, unbilling and the seven endpoints."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.engine import NIL_UUID, ClaimedJob, JobContext, new_locator
from policyjobs.engine.schema import jobs
from policyjobs.installments import service
from policyjobs.installments.handler import run_installments_job
from policyjobs.installments.service import OUT_OF_ORDER
from policyjobs.runtime import Runtime
from tests.support.http import MakeToken, assert_problem, bearer
from tests.support.operations import act

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml").read_text()
START, END = "2027-01-01T05:00:00Z", "2028-01-01T05:00:00Z"  # midnight in New York
JOB_FIELDS = {"locator", "latticeLocator", "referenceLocator", "completedAt",
              "installmentLocators", "jobStatus", "jobType", "processingErrors",
              "referenceType", "createdAt"}
PLANS = """
installmentPlans:
  weekly: {cadence: weekly}
"""


def quote(locator: str, amount: str = "1200.00", **keys: Any) -> dict[str, Any]:
    """A priced quote for the 2027 term in New York."""
    return {"type": "quote", "trigger": "priced", "locator": locator, "accountLocator": "A-1",
            "term": {"startTime": START, "endTime": END},
            "charges": [{"locator": "C-1", "chargeType": "premium", "amount": amount}],
            "data": {"insured": {"name": "Ada Lovelace"}}, **keys}


def issuance(locator: str, policy: str = "P-1", amount: str = "1200.00",
             **keys: Any) -> dict[str, Any]:
    """An issued issuance of one segment over the 2027 term."""
    return transaction(locator, policy, "issuance", segments=[
        {"locator": f"S-{locator}", "startTime": START, "endTime": END,
         "charges": [{"locator": f"C-{locator}", "chargeType": "premium", "amount": amount}]}],
        **keys)


def transaction(locator: str, policy: str, kind: str, **keys: Any) -> dict[str, Any]:
    """An issued transaction of `kind`."""
    return {"type": "transaction", "trigger": "issued", "transactionType": kind,
            "locator": locator, "policyLocator": policy, "termLocator": "TERM-1",
            "accountLocator": "A-1", "segments": [], **keys}


class Billing:
    """A tenant configured from examples/tenant.yaml, its token and helpers over the API."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
        self.client, self.runtime = client, runtime
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(
            EXAMPLE.replace("installmentPlans:", PLANS.strip())))
        self.headers = bearer(make_token(
            self.tenant, "jobs.read", "jobs.list", "installments.read", "installments.list",
            "installment-lattices.read", "events.write", "admin"))

    def send(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        """Post the events, expecting 202, and wait until every job has run."""
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": list(events)})
        assert response.status_code == 202, response.text
        self.settle()
        return list(response.json()["events"])

    def settle(self) -> None:
        """Wait until every job has run."""
        idle = self.client.get("/admin/idle", params={"timeout": 60}, headers=self.headers)
        assert idle.json() == {"idle": True}

    def reject(self, *events: dict[str, Any]) -> set[str]:
        """Post the events, expecting 400; the fields it names."""
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": list(events)})
        return {e["field"] for e in assert_problem(response, 400)["errors"]}

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"/billing/{self.tenant}/{path}", headers=self.headers,
                                   params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def jobs(self, reference: str, locator: str) -> list[dict[str, Any]]:
        body = self.get(f"jobs/installments/{reference}/{locator}/list")
        assert body["listCompleted"] is True
        for item in body["items"]:
            assert set(item) == JOB_FIELDS
        return list(body["items"])

    def installments(self, reference: str, locator: str) -> list[dict[str, Any]]:
        body = self.get(f"installments/{reference}/{locator}/list", count=1000)
        return list(body["items"])

    def invoice(self, installments: list[dict[str, Any]]) -> None:
        """Stand in for invoicing: mark the installments invoiced."""
        with self.runtime.db.begin() as conn:
            taken = service.mark_invoiced(
                conn, tenant=self.tenant,
                invoices={new_locator(): [i["locator"] for i in installments]},
                now=self.runtime.clock.now(), by=NIL_UUID)
        assert len(taken) == len(installments)


@pytest.fixture
def billing(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Billing:
    """A tenant with the example's plans and a weekly one."""
    return Billing(client, runtime, make_token)


def amounts(installments: list[dict[str, Any]]) -> list[Decimal]:
    """Each installment's total, exactly, in time order."""
    ordered = sorted(installments, key=lambda i: (i["installmentStartTime"], i["locator"]))
    return [sum((Decimal(str(item["amount"])) for item in i["installmentItems"]), Decimal(0))
            for i in ordered]


def starts(installments: list[dict[str, Any]]) -> list[str]:
    """Each installment's start, in time order."""
    return sorted(i["installmentStartTime"] for i in installments)


def test_a_priced_quote_is_split_into_monthly_installments(billing: Billing) -> None:
    [receipt] = billing.send(quote("Q-1", "1000.00"))
    [job_ref] = [j for j in receipt["jobs"] if j["kind"] == "installments"]
    [job] = billing.jobs("quotes", "Q-1")
    assert job["locator"] == job_ref["locator"]
    assert (job["jobType"], job["jobStatus"], job["referenceType"]) == (
        "createOrUpdate", "finished", "quote")
    assert job["referenceLocator"] == "Q-1"
    assert job["processingErrors"] is None
    assert job["completedAt"] is not None
    made = billing.installments("quotes", "Q-1")
    assert sorted(job["installmentLocators"].split(",")) == sorted(i["locator"] for i in made)
    # 1000.00 / 12 = 83.33 each, the first taking the remainder.
    assert amounts(made) == [Decimal("83.37")] + [Decimal("83.33")] * 11
    assert starts(made)[:4] == ["2027-01-01T05:00:00.000Z", "2027-02-01T05:00:00.000Z",
                                "2027-03-01T05:00:00.000Z", "2027-04-01T04:00:00.000Z"]
    first = min(made, key=lambda i: i["installmentStartTime"])
    assert first["generateTime"] == "2026-12-17T05:00:00.000Z"  # 15 days' lead
    assert first["dueTime"] == first["installmentStartTime"]
    assert (first["currency"], first["timezone"], first["accountLocator"]) == (
        "USD", "America/New_York", "A-1")
    assert first["quoteLocator"] == "Q-1"
    assert "policyLocator" not in first
    assert first["installmentLatticeLocator"] == job["latticeLocator"]
    [item] = first["installmentItems"]
    assert (item["chargeLocator"], item["chargeType"], item["elementLocator"]) == (
        "C-1", "premium", "Q-1")
    assert billing.get(f"installments/{first['locator']}") == first

    lattice = billing.get("installmentLattices/quotes/Q-1")
    assert lattice == billing.get(f"installmentLattices/{job['latticeLocator']}")
    assert lattice["reversalLattice"] is False
    assert "basedOnLocator" not in lattice
    assert (lattice["termStartTime"], lattice["termEndTime"]) == (
        "2027-01-01T05:00:00.000Z", "2028-01-01T05:00:00.000Z")
    assert len(lattice["frames"]) == 12
    assert sum(Decimal(str(f["normalizedWeight"])) for f in lattice["frames"]) == pytest.approx(1)
    assert lattice["frames"][0]["installmentDuration"] == 31.0


def test_re_pricing_invalidates_the_previous_lattice(billing: Billing) -> None:
    billing.send(quote("Q-1", "1200.00"))
    old = billing.get("installmentLattices/quotes/Q-1")
    old_installments = billing.installments("quotes", "Q-1")
    [receipt] = billing.send(quote("Q-1", "2400.00", installmentPlan="quarterly"))
    assert [j["kind"] for j in receipt["jobs"]].count("installments") == 2

    first, invalidate, create = billing.jobs("quotes", "Q-1")
    assert [j["jobType"] for j in (first, invalidate, create)] == [
        "createOrUpdate", "invalidate", "createOrUpdate"]
    assert invalidate["latticeLocator"] == old["locator"] == first["latticeLocator"]
    assert sorted(invalidate["installmentLocators"].split(",")) == sorted(
        i["locator"] for i in old_installments)
    current = billing.get("installmentLattices/quotes/Q-1")
    assert current["locator"] == create["latticeLocator"] != old["locator"]
    made = billing.installments("quotes", "Q-1")
    # The quarterly plan weighs 0.4, 0.2, 0.2, 0.2.
    assert amounts(made) == [Decimal("960.00"), Decimal("480.00"), Decimal("480.00"),
                             Decimal("480.00")]
    # The old lattice and installments stay readable, by locator.
    assert billing.get(f"installmentLattices/{old['locator']}")["locator"] == old["locator"]
    assert billing.get(f"installments/{old_installments[0]['locator']}")["locator"]


def test_a_batch_keeps_each_quote_in_order(billing: Billing) -> None:
    billing.send(quote("Q-1", "100.00"), quote("Q-1", "200.00"), quote("Q-1", "300.00"))
    types = [j["jobType"] for j in billing.jobs("quotes", "Q-1")]
    assert types == ["createOrUpdate", "invalidate", "createOrUpdate", "invalidate",
                     "createOrUpdate"]
    assert all(j["jobStatus"] == "finished" for j in billing.jobs("quotes", "Q-1"))
    assert sum(amounts(billing.installments("quotes", "Q-1"))) == Decimal("300.00")


def test_an_issuance_with_segments_bills_each_segment_on_its_own_frames(
        billing: Billing) -> None:
    middle = "2027-07-01T04:00:00Z"
    billing.send(transaction("T-1", "P-1", "issuance", segments=[
        {"locator": "S-1", "startTime": START, "endTime": middle,
         "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "600.00"},
                     {"locator": "C-2", "chargeType": "tax", "amount": "6.00"}]},
        {"locator": "S-2", "startTime": middle, "endTime": END,
         "charges": [{"locator": "C-3", "chargeType": "premium", "amount": "650.00"}]}]))
    made = billing.installments("transactions", "T-1")
    assert amounts(made) == [Decimal("101.00")] * 6 + [Decimal("108.35")] + [
        Decimal("108.33")] * 5
    by_start = sorted(made, key=lambda i: i["installmentStartTime"])
    assert {i["elementLocator"] for i in by_start[0]["installmentItems"]} == {"S-1"}
    assert {i["elementLocator"] for i in by_start[6]["installmentItems"]} == {"S-2"}
    assert all(i["policyLocator"] == "P-1" and i["termLocator"] == "TERM-1" for i in made)


def test_a_change_is_billed_on_the_terms_lattice(billing: Billing) -> None:
    billing.send(issuance("T-1"))
    change_start = "2027-03-15T04:00:00Z"
    billing.send(transaction("T-2", "P-1", "change", segments=[
        {"locator": "S-2", "startTime": change_start, "endTime": END,
         "charges": [{"locator": "C-9", "chargeType": "premium", "amount": "95.00"}]}]))
    [job] = billing.jobs("transactions", "T-2")
    lattice = billing.get(f"installmentLattices/{job['latticeLocator']}")
    [issued] = billing.jobs("transactions", "T-1")
    base = billing.get(f"installmentLattices/{issued['latticeLocator']}")
    assert lattice["basedOnLocator"] == base["locator"]
    assert lattice["termStartTime"] == base["termStartTime"]
    frame_starts = [f["coverageStartTime"] for f in lattice["frames"]]
    # The term's monthly dates stay, and the change's start cuts March.
    assert frame_starts[:5] == ["2027-01-01T05:00:00.000Z", "2027-02-01T05:00:00.000Z",
                                "2027-03-01T05:00:00.000Z", "2027-03-15T04:00:00.000Z",
                                "2027-04-01T04:00:00.000Z"]
    made = billing.installments("transactions", "T-2")
    assert starts(made)[0] == "2027-03-15T04:00:00.000Z"
    assert len(made) == 10
    assert sum(amounts(made)) == Decimal("95.00")


def test_a_cancellation_reverses_all_unearned_premium(billing: Billing) -> None:
    billing.send(issuance("T-1"))
    issued = sorted(billing.installments("transactions", "T-1"),
                    key=lambda i: i["installmentStartTime"])
    billing.invoice(issued[6:8])  # July and August are invoiced: reversed all the same
    billing.send(transaction("T-2", "P-1", "cancellation", effectiveTime="2027-07-01T04:00:00Z"))
    [job] = billing.jobs("transactions", "T-2")
    assert (job["jobType"], job["jobStatus"]) == ("unbill", "finished")
    reversals = billing.installments("transactions", "T-2")
    assert sorted(job["installmentLocators"].split(",")) == sorted(r["locator"] for r in reversals)
    assert {r["reversalOfInstallmentLocator"] for r in reversals} == {
        i["locator"] for i in issued[6:]}
    assert amounts(reversals) == [Decimal("-100.00")] * 6
    item = reversals[0]["installmentItems"][0]
    original = billing.get(f"installments/{reversals[0]['reversalOfInstallmentLocator']}")
    assert item["reversalOfInstallmentItemLocator"] == original["installmentItems"][0]["locator"]
    lattice = billing.get(f"installmentLattices/{job['latticeLocator']}")
    assert lattice["reversalLattice"] is True
    assert lattice["basedOnLocator"] == issued[0]["installmentLatticeLocator"]
    assert lattice["effectiveTime"] == "2027-07-01T04:00:00.000Z"
    assert len(lattice["frames"]) == 6

    # A second cancellation finds nothing left to unbill.
    billing.send(transaction("T-3", "P-1", "cancellation", effectiveTime="2027-07-01T04:00:00Z"))
    [again] = billing.jobs("transactions", "T-3")
    assert (again["jobStatus"], again["installmentLocators"], again["latticeLocator"]) == (
        "finished", "", None)


def test_a_reversal_unbills_its_transaction_and_can_itself_be_reversed(
        billing: Billing) -> None:
    billing.send(issuance("T-1"), issuance("T-9", policy="P-9"))
    issued = sorted(billing.installments("transactions", "T-1"),
                    key=lambda i: i["installmentStartTime"])
    billing.invoice(issued[:3])  # invoiced or not, all of it is reversed
    billing.send(transaction("T-2", "P-1", "reversal", reversedTransactionLocator="T-1"))
    reversals = billing.installments("transactions", "T-2")
    assert len(reversals) == 12
    assert sum(amounts(reversals)) == Decimal("-1200.00")
    assert len(billing.installments("transactions", "T-9")) == 12  # another policy: untouched

    billing.send(transaction("T-3", "P-1", "reversal", reversedTransactionLocator="T-2"))
    rebilled = billing.installments("transactions", "T-3")
    assert sum(amounts(rebilled)) == Decimal("1200.00")
    assert {r["reversalOfInstallmentLocator"] for r in rebilled} == {
        r["locator"] for r in reversals}


def test_issuance_and_cancellation_in_one_batch_run_in_order(billing: Billing) -> None:
    billing.send(issuance("T-1"),
                 transaction("T-2", "P-1", "cancellation", effectiveTime="2027-10-01T04:00:00Z"))
    assert len(billing.installments("transactions", "T-2")) == 3


def test_a_batch_of_issuances_bills_each_policy_and_names_a_refused_one(
        billing: Billing, runtime: Runtime) -> None:
    """Intake takes a run of issuances together (`on_transactions`), one statement of each
    kind for all; one it cannot bill refuses the batch, named by its index."""
    bad = transaction("T-9", "P-9", "issuance")  # no segments
    assert billing.reject(issuance("T-1", "P-1"), issuance("T-2", "P-2"), bad) == {
        "events[2].segments"}
    with runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one() == 0
    receipts = billing.send(issuance("T-1", "P-1"), issuance("T-2", "P-2", "2400.00"),
                            issuance("T-3", "P-3", "600.00"))
    assert [[j["kind"] for j in r["jobs"]].count("installments") for r in receipts] == [1] * 3
    assert sum(amounts(billing.installments("transactions", "T-2"))) == Decimal("2400.00")
    assert [j["jobType"] for j in billing.jobs("transactions", "T-3")] == ["createOrUpdate"]


def test_a_failed_job_lets_the_next_of_its_policy_run(billing: Billing) -> None:
    billing.send(issuance("T-1", installmentPlan="weekly"))
    # Alone, the change's 19 years make 992 weekly frames; on the term's lattice, 1013.
    long_start, long_end = "2027-06-01T04:00:00Z", "2046-06-01T04:00:00Z"
    billing.send(
        transaction("T-2", "P-1", "change", installmentPlan="weekly", segments=[
            {"locator": "S-2", "startTime": long_start, "endTime": long_end, "charges": [
                {"locator": "C-2", "chargeType": "premium", "amount": "1.00"}]}]),
        transaction("T-3", "P-1", "cancellation", effectiveTime="2027-12-01T05:00:00Z"))
    [failed] = billing.jobs("transactions", "T-2")
    assert failed["jobStatus"] == "failed"
    assert "more than 1000 frames" in failed["processingErrors"]
    [after] = billing.jobs("transactions", "T-3")
    assert after["jobStatus"] == "finished"
    # December's weeks, and the part after December 1 of the week it cuts through.
    assert len(billing.installments("transactions", "T-3")) == 6


def test_a_job_run_again_bills_nothing_twice(billing: Billing, runtime: Runtime) -> None:
    """As when a worker dies after its handler committed, before the job was marked done."""
    billing.send(issuance("T-1"))
    [job] = billing.jobs("transactions", "T-1")
    with runtime.db.connect() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.locator == job["locator"])).one()
    claimed = ClaimedJob(row.id, row.locator, row.tenant, row.kind, row.reference_type,
                         row.reference_locator, row.parent_locator, row.attempt + 1,
                         row.max_attempts, row.payload, row.created_at, row.run_at)
    result = run_installments_job(JobContext(claimed, runtime.db, runtime.clock, runtime.queue))
    assert result == {"latticeLocator": job["latticeLocator"],
                      "installmentLocators": job["installmentLocators"].split(",")}
    assert len(billing.installments("transactions", "T-1")) == 12


@pytest.mark.parametrize(("event", "fields"), [
    ({**quote("Q-1"), "term": None}, {"events[1].term"}),
    (quote("Q-1", installmentPlan="biweekly"), {"events[1].installmentPlan"}),
    (quote("Q-1", "1200.50", currency="JPY"), {"events[1].charges[0].amount"}),
    (quote("Q-1", currency="ZZZ"), {"events[1].currency"}),
    (quote("Q-1", timezone="Mars/Olympus"), {"events[1].timezone"}),
    (quote("Q-1", amount="1234567890.123456"), {"events[1].charges[0].amount"}),
    ({**quote("Q-1"), "charges": [{"locator": "C-1", "chargeType": "a", "amount": "1"},
                                  {"locator": "C-1", "chargeType": "b", "amount": "2"}]},
     {"events[1].charges[1].locator"}),
    (quote("Q-1", installmentPlan="weekly", term={"startTime": START,
                                                  "endTime": "2050-01-01T00:00:00Z"}),
     {"events[1].term"}),
    (transaction("T-1", "P-1", "issuance"), {"events[1].segments"}),
    (transaction("T-1", "P-1", "issuance", segments=[
        {"locator": "S-1", "startTime": START, "endTime": "2027-06-01T04:00:00Z"},
        {"locator": "S-2", "startTime": "2027-05-01T04:00:00Z", "endTime": END}]),
     {"events[1].segments[1].startTime"}),
    (transaction("T-2", "P-1", "cancellation"), {"events[1].effectiveTime"}),
    (transaction("T-3", "P-1", "reversal"), {"events[1].reversedTransactionLocator"}),
])
def test_events_that_cannot_be_billed_are_rejected_whole(
        billing: Billing, runtime: Runtime, event: dict[str, Any], fields: set[str]) -> None:
    assert billing.reject(quote("Q-ok"), event) == fields
    with runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one() == 0


def test_quotes_not_priced_and_transactions_not_issued_make_no_installments(
        billing: Billing) -> None:
    [accepted, validated] = billing.send(quote("Q-1", trigger="accepted"),
                                         {**issuance("T-1"), "trigger": "validated"})
    assert "installments" not in {j["kind"] for j in accepted["jobs"] + validated["jobs"]}


ENDPOINTS = [
    ("jobs/installments/quotes/Q-1/list", "jobs.read", "jobs.list"),
    ("jobs/installments/transactions/T-1/list", "jobs.read", "jobs.list"),
    ("installments/quotes/Q-1/list", "installments.read", "installments.list"),
    ("installments/transactions/T-1/list", "installments.read", "installments.list"),
    ("installments/{installment}", "installments.read"),
    ("installmentLattices/{lattice}", "installment-lattices.read"),
    ("installmentLattices/quotes/Q-1", "installment-lattices.read"),
]


@pytest.mark.parametrize(("path", "permissions"), [(e[0], e[1:]) for e in ENDPOINTS])
def test_every_endpoint_checks_its_token(billing: Billing, client: TestClient,
                                         make_tenant: Any, make_token: MakeToken, path: str,
                                         permissions: tuple[str, ...]) -> None:
    billing.send(quote("Q-1"), issuance("T-1"))
    made = billing.installments("quotes", "Q-1")
    path = path.format(installment=made[0]["locator"],
                       lattice=made[0]["installmentLatticeLocator"])
    url = f"/billing/{billing.tenant}/{path}"
    assert client.get(url, headers=bearer(make_token(billing.tenant, *permissions))
                      ).status_code == 200
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers={"Authorization": "Bearer pjt_nope"}), 401)
    for missing in permissions:
        others = [p for p in permissions if p != missing]
        token = make_token(billing.tenant, *others) if others else make_token(
            billing.tenant, "documents.read")
        assert_problem(client.get(url, headers=bearer(token)), 403)
    stranger = make_token(make_tenant(), "admin")
    assert_problem(client.get(url, headers=bearer(stranger)), 403)
    assert_problem(client.get(url.replace(billing.tenant, "not-a-uuid"),
                              headers=billing.headers), 400)


@pytest.mark.parametrize("path", ["installments/01JUNKNOWN0000000000000000",
                                  "installmentLattices/01JUNKNOWN0000000000000000",
                                  "installmentLattices/quotes/Q-unknown"])
def test_unknown_artifacts_are_404(billing: Billing, path: str) -> None:
    response = billing.client.get(f"/billing/{billing.tenant}/{path}", headers=billing.headers)
    assert_problem(response, 404)


def test_lists_page_and_answer_empty_for_unknown_references(billing: Billing) -> None:
    billing.send(quote("Q-1"), quote("Q-1"), quote("Q-1"))
    assert billing.get("jobs/installments/quotes/Q-unknown/list") == {
        "listCompleted": True, "items": []}
    assert billing.get("installments/transactions/T-unknown/list") == {
        "listCompleted": True, "items": []}
    page = billing.get("jobs/installments/quotes/Q-1/list", offset=1, count=2)
    assert page["listCompleted"] is False
    assert [j["jobType"] for j in page["items"]] == ["invalidate", "createOrUpdate"]
    bare = billing.get("jobs/installments/quotes/Q-1/list", extended="false")
    assert isinstance(bare, list)
    assert len(bare) == 5
    installments = billing.get("installments/quotes/Q-1/list", count=5)
    assert installments["listCompleted"] is False
    assert len(installments["items"]) == 5
    for params in ({"count": 0}, {"count": 1001}, {"offset": -1}, {"extended": "perhaps"}):
        for path in ("jobs/installments/quotes/Q-1/list", "installments/quotes/Q-1/list"):
            response = billing.client.get(f"/billing/{billing.tenant}/{path}",
                                          headers=billing.headers, params=params)
            assert_problem(response, 400)


VENDOR = Path(__file__).resolve().parents[3] / "shared" / "spec" / "vendor-jobs-openapi.json"


@pytest.mark.skipif(not VENDOR.is_file(), reason="../shared/spec is not beside the clone")
def test_the_endpoints_are_the_vendors(client: TestClient) -> None:
    """Same paths, operation ids, security and query parameters as the vendor's OpenAPI."""
    vendor = json.loads(VENDOR.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    paths = [p for p in vendor if "installment" in p.lower()]
    assert len(paths) == 7
    for path in paths:
        theirs, mine = vendor[path]["get"], ours[path]["get"]
        assert mine["operationId"] == theirs["operationId"]
        assert mine["x-securityGroup"] == theirs["x-securityGroup"]
        assert mine["x-securityPermission"] == theirs["x-securityPermission"]
        query = {p["name"] for p in theirs["parameters"] if p["in"] == "query"}
        assert {p["name"] for p in mine["parameters"] if p["in"] == "query"} == query


def test_concurrent_batches_keep_every_chain_in_order(billing: Billing) -> None:
    """Batches that price the same quotes in opposite orders, at once: none fails, and each
    quote's jobs alternate invalidate and createOrUpdate, ending on one current lattice."""

    def post(order: list[str], amount: str) -> int:
        events = [quote(locator, amount) for locator in order]
        response = billing.client.post(f"/platform/{billing.tenant}/events",
                                       headers=billing.headers, json={"events": events})
        return int(response.status_code)

    orders = [(["Q-1", "Q-2"], f"{n}.00") if n % 2 else (["Q-2", "Q-1"], f"{n}.00")
              for n in range(1, 9)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda args: post(*args), orders))
    assert statuses == [202] * 8
    billing.settle()
    for locator in ("Q-1", "Q-2"):
        history = billing.jobs("quotes", locator)
        assert [j["jobType"] for j in history] == ["createOrUpdate"] + [
            "invalidate", "createOrUpdate"] * 7
        assert {j["jobStatus"] for j in history} == {"finished"}
        current = billing.get(f"installmentLattices/quotes/{locator}")
        assert current["locator"] == history[-1]["latticeLocator"]
        assert len(billing.installments("quotes", locator)) == 12


def test_an_operator_retries_a_failed_job_only_while_it_is_the_last_of_its_policy(
        billing: Billing) -> None:
    billing.send(issuance("T-1", installmentPlan="weekly"))
    billing.send(transaction("T-2", "P-1", "change", installmentPlan="weekly", segments=[
        {"locator": "S-2", "startTime": "2027-06-01T04:00:00Z",
         "endTime": "2046-06-01T04:00:00Z", "charges": [
             {"locator": "C-2", "chargeType": "premium", "amount": "1.00"}]}]))
    [failed] = billing.jobs("transactions", "T-2")
    assert act(billing, "retry", failed["locator"])["acted"] == 1
    [again] = billing.jobs("transactions", "T-2")
    assert again["jobStatus"] == "failed"  # the same 19 years: it fails the same way
    assert again["processingErrors"].count("more than 1000 frames") == 2
    billing.send(transaction("T-3", "P-1", "cancellation", effectiveTime="2027-12-01T05:00:00Z"))
    done = act(billing, "retry", failed["locator"])
    assert done["skipped"] == {OUT_OF_ORDER: 1}
