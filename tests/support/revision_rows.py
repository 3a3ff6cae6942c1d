"""Rows in the schema of each revision, for the tests of migrations with data.

`scenario(revision, columns)` makes, for a store just migrated to `revision`, one tenant
with a token and what its jobs had made by then: a documents job with its documents, an
installments job with its lattice and installment, invoicing jobs with an invoice, its
item and payment, a delinquency with its jobs and events, a queued job, a failed one. Each
row names every column any revision gave its table; `columns` (the store's, reflected)
keeps those the table has at that revision, so the same scenario is written in the shape
each revision had. The scenario also lists what the API must answer for it once the store
is at head.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from policyjobs.engine import new_locator

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
BY = "6f0d4c1e-5a8b-4e3f-9c2d-7b1a0e9f8d6c"  # the user who made everything


@dataclass
class Scenario:
    """One revision's rows, and what the API answers for them at head."""

    revision: str
    tenant: str
    token: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    # URL → a locator its answer shows: the object's own, or an item of a list.
    answers: dict[str, str] = field(default_factory=dict)

    def add(self, table: str, columns: Mapping[str, Set[str]], **values: Any) -> bool:
        """A row of `table`, if the table exists yet, with the columns it has; whether it
        does."""
        if table not in columns:
            return False
        kept = {name: value for name, value in values.items() if name in columns[table]}
        self.rows.append({"__tablename__": table, **kept})
        return True


def scenario(revision: str, columns: Mapping[str, Set[str]]) -> Scenario:
    """The rows of one tenant's business, in the schema `columns` describes (that of
    `revision`)."""
    number = int(revision)
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=number)
    tenant, token_id, secret = str(uuid.uuid4()), new_locator(), f"secret{revision}"
    made = Scenario(revision, tenant, f"pjt_{token_id}_{secret}")
    made.add("tenants", columns, locator=tenant, created_at=now,
             config={"timezone": "America/New_York", "currency": "USD"})
    made.add("tokens", columns, id=token_id,
             secret_hash=hashlib.sha256(secret.encode()).hexdigest(), user_id=BY,
             tenants=[tenant], permissions=["admin"], created_at=now)
    made.add("intake_events", columns, tenant=tenant, event_id=f"evt-{revision}",
             receipt={"eventId": f"evt-{revision}", "jobs": []}, received_at=now,
             fingerprint="0" * 64)
    made.add("engine_leaders", columns, name=f"leader-{revision}", owner="gone",
             expires_at=now)
    made.add("engine_clock", columns, id=number, offset_us=0)
    made.add("engine_schedules", columns, key=f"schedule-{revision}",
             locator=f"schedule-{revision}",
             tenant=tenant, kind="invoicing.generation", time_of_day="02:00",
             timezone="America/New_York", payload={}, next_at=now + timedelta(days=1),
             created_at=now)
    _documents(made, columns, now)
    _installments(made, columns, now)
    _invoicing(made, columns, now)
    _delinquency(made, columns, now)
    _queued_and_failed(made, columns, now)
    _webhooks(made, columns, now)
    return made


def _webhooks(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    """An endpoint, an event it was sent and the delivery's one attempt."""
    endpoint, event, delivery = new_locator(), new_locator(), new_locator()
    if not made.add("webhook_endpoints", columns, locator=endpoint, tenant=made.tenant,
                    url="https://hooks.example.com/in", event_types=[], description="ledger",
                    enabled=True, secret="sealed", key_id="0" * 16, created_by=BY,
                    created_at=now, updated_at=now):
        return
    made.add("webhook_events", columns, id=event, tenant=made.tenant,
             type="invoicing.invoice.generated", occurred_at=now,
             data={"invoiceLocator": "I-1", "accountLocator": "A-1"})
    made.add("webhook_deliveries", columns, locator=delivery, tenant=made.tenant,
             event_id=event, endpoint_locator=endpoint, status="succeeded", attempts=1,
             job_locator=new_locator(), created_at=now, updated_at=now)
    made.add("webhook_attempts", columns, tenant=made.tenant, delivery_locator=delivery,
             endpoint_locator=endpoint, event_id=event, attempted_at=now, status_code=204,
             latency_ms=12, response="")
    base = f"/platform/{made.tenant}/webhooks"
    made.answers[f"{base}/{endpoint}"] = endpoint
    made.answers[f"{base}/list"] = endpoint
    made.answers[f"{base}/{endpoint}/deliveries/list"] = delivery


def _job(made: Scenario, columns: Mapping[str, Set[str]], kind: str, now: datetime, *,
         status: str = "finished", reference: tuple[str, str] | None = None,
         payload: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
         errors: list[dict[str, Any]] | None = None, run_at: datetime | None = None,
         ordered_key: str | None = None) -> str:
    """A job row; its locator."""
    locator = new_locator()
    ended = status in ("finished", "failed", "cancelled")
    made.add("jobs", columns, locator=locator, tenant=made.tenant, kind=kind,
             reference_type=reference[0] if reference else None,
             reference_locator=reference[1] if reference else None, status=status,
             run_at=run_at or now, attempt=1 if ended else 0, max_attempts=5,
             payload=payload or {}, result=result, errors=errors or [],
             ordered_key=ordered_key, created_by=BY, created_at=now,
             started_at=now if ended else None, finished_at=now if ended else None,
             updated_at=now)
    return locator


def _documents(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    if "documents" not in columns:
        return
    quote = f"Q-{made.revision}"
    job = _job(made, columns, "documents", now, reference=("quote", quote),
               payload={"context": {"event": {"type": "quote", "trigger": "priced",
                                              "locator": quote}}},
               result={"rendered": 2})
    made.add("documents_jobs", columns, job_locator=job, tenant=made.tenant, trigger="priced",
             timeout_seconds=120, deadline_at=now + timedelta(seconds=120), render_attempts=1)
    base = f"/document/{made.tenant}/documents"
    for name, state in (("summary", "ready"), ("broken", "renderError")):
        document = new_locator()
        made.add("documents", columns, locator=document, tenant=made.tenant, job_locator=job,
                 reference_type="quote", reference_locator=quote, static_name=name,
                 name=name.title(), scope="quote", format="text", template="Quote {{ x }}",
                 state=state, processing_errors=None if state == "ready" else "line 1: x",
                 storage_key=f"{made.tenant}/{document}.txt" if state == "ready" else None,
                 content_type="text/plain" if state == "ready" else None, created_at=now,
                 created_by=BY, ready_at=now if state == "ready" else None,
                 rendering_data={"reference": {"type": "quote", "locator": quote}})
        made.answers[f"{base}/{document}"] = document
    made.answers[f"{base}/quote/{quote}/jobs/{job}"] = job
    made.answers[f"{base}/quote/{quote}/jobs/list"] = job


def _installments(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    if "installments" not in columns:
        return
    quote, chain = f"Q-{made.revision}", f"quote:Q-{made.revision}"
    lattice, installment = new_locator(), new_locator()
    job = _job(made, columns, "installments", now, reference=("quote", quote),
               payload={"jobType": "createOrUpdate", "references": {"quote": quote}},
               result={"latticeLocator": lattice, "installmentLocators": [installment]},
               ordered_key=chain)
    made.add("installment_jobs", columns, job_locator=job, tenant=made.tenant,
             job_type="createOrUpdate", chain=chain, lattice_locator=lattice,
             installment_locators=installment, done_at=now)
    made.add("installment_chains", columns, tenant=made.tenant, chain=chain,
             last_job_locator=job)
    start, end = datetime(2027, 1, 1, 5, tzinfo=UTC), datetime(2028, 1, 1, 5, tzinfo=UTC)
    made.add("installment_lattices", columns, locator=lattice, tenant=made.tenant,
             job_locator=job, account_locator="A-1", quote_locator=quote, currency="USD",
             timezone="America/New_York", plan_name="fullPay", term_start=start, term_end=end,
             effective_time=start, reversal=False, created_at=now, created_by=BY,
             frames=[{"start": start.isoformat(), "end": end.isoformat(),
                      "generate": start.isoformat(), "due": start.isoformat(), "weight": "1"}])
    made.add("installments", columns, locator=installment, tenant=made.tenant, job_locator=job,
             lattice_locator=lattice, frame_index=0, account_locator="A-1", currency="USD",
             timezone="America/New_York", quote_locator=quote, installment_start=start,
             installment_end=end, coverage_start=start, coverage_end=end, generate_time=start,
             due_time=start, depth=0, created_at=now, created_by=BY, updated_at=now,
             updated_by=BY)
    made.add("installment_items", columns, locator=new_locator(), tenant=made.tenant,
             installment_locator=installment, charge_locator="C-1", charge_type="premium",
             element_locator="S-1", amount="1200.00", created_at=now, created_by=BY)
    billing = f"/billing/{made.tenant}"
    made.answers[f"{billing}/jobs/installments/quotes/{quote}/list"] = job
    made.answers[f"{billing}/installmentLattices/{lattice}"] = lattice
    made.answers[f"{billing}/installments/{installment}"] = installment


def _invoicing(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    if "invoices" not in columns:
        return
    account, invoice = f"A-{made.revision}", new_locator()
    run = _job(made, columns, "invoicing.generation", now,
               reference=("schedule", f"schedule-{made.revision}"),
               payload={"scheduledFor": now.isoformat()}, result={"instances": 1})
    instance = _job(made, columns, "invoicing.instance", now, reference=("account", account),
                    payload={"accountLocator": account, "currency": "USD",
                             "generateTime": now.isoformat()})
    made.add("invoicing_jobs", columns, job_locator=instance, tenant=made.tenant,
             invoicing_type="scheduled", account_locator=account, currency="USD",
             generate_time=now, invoice_locator=invoice, invoicing_data={}, candidates=0)
    immediate = _job(made, columns, "invoicing.account", now, reference=("account", account),
                     payload={"createdBy": BY})
    made.add("invoicing_jobs", columns, job_locator=immediate, tenant=made.tenant,
             invoicing_type="immediate", account_locator=account, candidates=0,
             invoicing_data={"invoicingType": "immediate", "accountLocator": account,
                             "currencies": ["USD"]})
    made.add("invoices", columns, locator=invoice, tenant=made.tenant, job_locator=instance,
             invoicing_type="scheduled", account_locator=account, currency="USD",
             timezone="America/New_York", start_time=now, end_time=now + timedelta(days=30),
             generated_time=now, due_time=now + timedelta(days=15), total="100.00",
             paid="40.00", state="open", created_at=now, created_by=BY)
    made.add("invoice_items", columns, locator=new_locator(), tenant=made.tenant,
             invoice_locator=invoice, installment_locator=new_locator(),
             installment_item_locator=new_locator(), charge_locator="C-1",
             charge_type="premium", element_locator="S-1", policy_locator=f"P-{made.revision}",
             amount="100.00", created_at=now)
    made.add("invoice_payments", columns, locator=new_locator(), tenant=made.tenant,
             invoice_locator=invoice, amount="40.00", currency="USD", received_at=now,
             created_by=BY)
    made.add("invoice_generation_references", columns, tenant=made.tenant,
             reference_type="policy", reference_locator=f"P-{made.revision}", job_locator=run)
    billing = f"/billing/{made.tenant}"
    if made.add("account_credits", columns, tenant=made.tenant, account_locator=account,
                currency="USD", amount="12.50", updated_at=now):
        made.answers[f"{billing}/accounts/{account}/credit"] = "12.5"
    else:  # an invoice paid beyond its total: what it took beyond becomes credit
        _overpaid(made, columns, now)
    made.answers[f"{billing}/invoices/{invoice}"] = invoice
    made.answers[f"{billing}/jobs/invoicing/{immediate}"] = immediate
    made.answers[f"{billing}/jobs/invoices/policies/P-{made.revision}/list"] = run


def _overpaid(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    account, invoice = f"A-{made.revision}-over", new_locator()
    job = _job(made, columns, "invoicing.instance", now, reference=("account", account),
               payload={"accountLocator": account, "currency": "USD",
                        "generateTime": now.isoformat()})
    made.add("invoices", columns, locator=invoice, tenant=made.tenant, job_locator=job,
             invoicing_type="scheduled", account_locator=account, currency="USD",
             timezone="America/New_York", start_time=now, end_time=now + timedelta(days=30),
             generated_time=now, due_time=now + timedelta(days=15), total="100.00",
             paid="130.25", state="settled", settled_time=now, created_at=now, created_by=BY)
    for amount in ("100.00", "30.25"):
        made.add("invoice_payments", columns, locator=new_locator(), tenant=made.tenant,
                 invoice_locator=invoice, amount=amount, currency="USD", received_at=now,
                 created_by=BY)
    made.answers[f"/billing/{made.tenant}/accounts/{account}/credit"] = "30.25"


def _delinquency(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    if "delinquencies" not in columns:
        return
    invoice, delinquency, event = new_locator(), new_locator(), new_locator()
    create = _job(made, columns, "delinquency.create", now, reference=("invoice", invoice),
                  result={"delinquencyLocators": [delinquency]})
    grace = _job(made, columns, "delinquency.grace", now, status="queued",
                 reference=("delinquency", delinquency), run_at=now + timedelta(days=30))
    reminder = _job(made, columns, "delinquency.event", now, status="cancelled",
                    reference=("delinquency", delinquency),
                    payload={"delinquencyEventLocator": event}, run_at=now + timedelta(days=5))
    made.add("delinquencies", columns, locator=delinquency, tenant=made.tenant,
             invoice_locator=invoice, account_locator="A-1", timezone="America/New_York",
             state="inGrace", grace_start=now, grace_end=now + timedelta(days=30),
             settings={"gracePeriodDays": 30, "lapseTransactionType": "lapse",
                       "advanceLapseTo": "issued", "delinquencyLevel": "invoice"},
             configured_events=[{"name": "reminder", "offsetBasis": "gracePeriodStart",
                                 "offsetDays": 5}],
             grace_job_locator=grace, created_at=now, created_by=BY, updated_at=now)
    made.add("delinquency_events", columns, locator=event, tenant=made.tenant,
             delinquency_locator=delinquency, name="reminder", state="cancelled",
             trigger_time=now + timedelta(days=5), job_locator=reminder, created_at=now,
             created_by=BY, updated_at=now, updated_by=BY)
    for job, values in ((create, {"job_type": "create", "invoice_locator": invoice,
                                  "due_time": now, "delinquency_locators": [delinquency]}),
                        (grace, {"job_type": "grace", "delinquency_locator": delinquency}),
                        (reminder, {"job_type": "event", "delinquency_locator": delinquency,
                                    "event_locator": event,
                                    "trigger_time": now + timedelta(days=5),
                                    "cancellation_type": "cancellationRequested"})):
        made.add("delinquency_jobs", columns, job_locator=job, tenant=made.tenant,
                 updated_at=now, **values)
    billing = f"/billing/{made.tenant}"
    made.answers[f"{billing}/delinquencies/{delinquency}"] = delinquency
    made.answers[f"{billing}/delinquencies/events/{event}"] = event
    made.answers[f"{billing}/jobs/delinquencies/invoices/{invoice}/list"] = create
    made.answers[f"{billing}/jobs/delinquencies/{delinquency}/list"] = grace
    made.answers[f"{billing}/jobs/delinquencies/{delinquency}/events/list"] = reminder


def _queued_and_failed(made: Scenario, columns: Mapping[str, Set[str]], now: datetime) -> None:
    """A documents job still queued (with its queue row, once there is a queue table) and one
    that failed (with its mark, once there are marks)."""
    if "documents_jobs" not in columns:
        return
    quote = f"Q-{made.revision}-later"
    queued = _job(made, columns, "documents", now, status="queued", reference=("quote", quote),
                  payload={"context": {"event": {"trigger": "priced"}}}, run_at=NEVER)
    failed = _job(made, columns, "documents", now, status="failed", reference=("quote", quote),
                  payload={"context": {"event": {"trigger": "priced"}}},
                  errors=[{"attempt": 1, "error": "the template is broken"}])
    for job in (queued, failed):
        made.add("documents_jobs", columns, job_locator=job, tenant=made.tenant,
                 trigger="priced", timeout_seconds=120, deadline_at=now, render_attempts=0)
    if "job_queue" in columns:
        row = {"__tablename__": "job_queue", "id": _JobId(queued), "kind": "documents",
               "status": "queued", "run_at": NEVER, "tenant": made.tenant, "lane": 0}
        made.rows.append({k: v for k, v in row.items() if k in columns["job_queue"] or k[0] == "_"})
    if "job_marks" in columns:
        made.rows.append({"__tablename__": "job_marks", "id": _JobId(failed),
                          "tenant": made.tenant, "locator": failed, "status": "failed"})
    base = f"/document/{made.tenant}/documents/quote/{quote}/jobs"
    made.answers[f"{base}/{queued}"] = queued
    made.answers[f"{base}/{failed}"] = failed


@dataclass(frozen=True)
class _JobId:
    """The id of the job `locator`, which the store gives when the job's row goes in."""

    locator: str
