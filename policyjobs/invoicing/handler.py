"""The invoicing jobs: a generation run, its instances (one invoice each), and an account's
immediate or early invoicing.

A run finds the accounts and currencies with installments to invoice by its generate
time and makes one instance job for each, whose dedupe key keeps a run re-done after a
crash from making an instance twice. The run waits for its instances; the runs of one
schedule run one at a time, in order (their ordered key), and the invoicing jobs of one
account too. Each instance and each account job makes its invoices in one transaction,
so a job re-run finds them made.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import NIL_UUID, JobContext, NewJob, new_locator
from policyjobs.invoicing.invoices import Bill, Invoicing, invoice, invoice_all
from policyjobs.invoicing.models import INSTANCE, InvoicingType, invoicing_jobs
from policyjobs.invoicing.ports import Billable, Ports
from policyjobs.invoicing.service import EarlyInvoicing, account_key, early_billable
from policyjobs.store.job_data import required_data
from policyjobs.store.writes import insert_all

_JOB_DATA = sa.select(invoicing_jobs).where(invoicing_jobs.c.job_locator == sa.bindparam("job"))


def run_generation(context: JobContext, ports: Ports) -> dict[str, Any]:
    """One run of a tenant's schedule: an instance job per account and currency to invoice."""
    job = context.job
    generate_time = datetime.fromisoformat(job.payload["scheduledFor"])
    with context.db.begin() as conn:
        groups = ports.installments.billable_groups(conn, tenant=job.tenant,
                                                    through=generate_time)
        instances = [
            NewJob(INSTANCE, job.tenant,
                   {"accountLocator": account, "currency": currency,
                    "generateTime": generate_time.isoformat(), "invoiceLocator": new_locator()},
                   reference_type="account", reference_locator=account,
                   parent_locator=job.locator, ordered_key=account_key(account),
                   dedupe_key=f"{job.locator}:{account}:{currency}")
            for account, currency in groups]
        made = context.queue.enqueue(conn, instances)
        fresh = [(new, locator) for new, locator in zip(instances, made, strict=True)
                 if new.locator == locator]  # not made by an earlier attempt of this run
        if fresh:
            insert_all(conn, invoicing_jobs, [
                {"job_locator": locator, "tenant": job.tenant,
                 "invoicing_type": InvoicingType.SCHEDULED,
                 "account_locator": new.payload["accountLocator"],
                 "currency": new.payload["currency"], "generate_time": generate_time,
                 "invoice_locator": new.payload["invoiceLocator"], "invoicing_data": {}}
                for new, locator in fresh])
    return {"instances": len(instances)}


def run_instance(context: JobContext, ports: Ports) -> dict[str, Any]:
    """One invoice of a run: an account's installments in one currency, due by the run.
    What it invoices is in its payload (an instance made before the payload named its
    invoice reads its data row for it)."""
    with context.db.begin() as conn:
        return _instance(context, conn, ports)


def run_instances(contexts: Sequence[JobContext], ports: Ports) -> list[dict[str, Any]]:
    """Several instances of one tenant, in one transaction, with one statement of each
    kind for all (their installments read and locked, their invoices, items, references,
    credits and the jobs that follow them written), where each alone runs its own. An
    instance whose payload lacks its invoice, or not at its first run (an earlier one may
    have made its invoice), runs as alone, in the same transaction."""
    results: dict[str, dict[str, Any]] = {}
    by_time: dict[str, list[JobContext]] = {}
    with contexts[0].db.begin() as conn:
        for context in contexts:
            if context.job.attempt > 1 or context.again or \
                    "invoiceLocator" not in context.job.payload:
                results[context.job.locator] = _instance(context, conn, ports)
            else:
                by_time.setdefault(context.job.payload["generateTime"], []).append(context)
        for generate_time, group in by_time.items():
            results |= _instances(conn, ports, datetime.fromisoformat(generate_time), group)
    return [results[context.job.locator] for context in contexts]


def _instances(conn: sa.Connection, ports: Ports, through: datetime,
               contexts: Sequence[JobContext]) -> dict[str, dict[str, Any]]:
    """The invoices of instances of one run time, by job locator."""
    found: dict[tuple[str, str], list[Billable]] = {}
    for billable in ports.installments.billable(
            conn, tenant=contexts[0].job.tenant, through=through,
            accounts=sorted({c.job.payload["accountLocator"] for c in contexts})):
        found.setdefault((billable.account_locator, billable.currency), []).append(billable)
    bills = {c.job.locator: Bill(_work(c, conn, ports, InvoicingType.SCHEDULED, through,
                                       generation_job=c.job.parent_locator),
                                 c.job.payload["currency"], billed, c.job.payload["invoiceLocator"])
             for c in contexts
             if (billed := found.get((c.job.payload["accountLocator"], c.job.payload["currency"])))}
    made = dict(zip(bills, invoice_all(list(bills.values())), strict=True))
    return {c.job.locator: {"invoiceLocators": [made[c.job.locator]] if made.get(c.job.locator)
                            else []} for c in contexts}


def _instance(context: JobContext, conn: sa.Connection, ports: Ports) -> dict[str, Any]:
    job = context.job
    work = job.payload
    if "invoiceLocator" not in work:
        data = required_data(conn.execute(_JOB_DATA, {"job": job.locator}).first(),
                             invoicing_jobs, job.locator)
        work = {**work, "invoiceLocator": data.invoice_locator}
    generate_time = datetime.fromisoformat(work["generateTime"])
    found = ports.installments.billable(conn, tenant=job.tenant,
                                        account=work["accountLocator"],
                                        currency=work["currency"], through=generate_time)
    made = invoice(_work(context, conn, ports, InvoicingType.SCHEDULED, generate_time,
                         generation_job=job.parent_locator), found,
                   locator=work["invoiceLocator"])
    return {"invoiceLocators": made}


def run_account(context: JobContext, ports: Ports) -> dict[str, Any]:
    """An account's immediate or early invoicing: one invoice per currency."""
    job = context.job
    now = context.clock.now()
    with context.db.begin() as conn:
        data = required_data(conn.execute(_JOB_DATA, {"job": job.locator}).first(),
                             invoicing_jobs, job.locator)
        details = data.invoicing_data
        found: Sequence[Billable]
        if data.invoicing_type == InvoicingType.IMMEDIATE:
            found = [b for b in ports.installments.billable(
                         conn, tenant=job.tenant, account=data.account_locator, through=now)
                     if b.currency in details["currencies"]]
            work = _work(context, conn, ports, InvoicingType.IMMEDIATE, now)
        else:
            request = EarlyInvoicing.from_json(details)
            found = early_billable(conn, ports.installments, job.tenant, data.account_locator,
                                   request)
            work = _work(context, conn, ports, InvoicingType.EARLY, now,
                         due_time=request.due_time, timezone=request.timezone)
        made = invoice(work, found)
    return {"invoiceLocators": made}


def _work(context: JobContext, conn: sa.Connection, ports: Ports,
          invoicing_type: InvoicingType, generated: datetime, **options: Any) -> Invoicing:
    job = context.job
    return Invoicing(conn, context.queue, ports, job.tenant, job.locator, invoicing_type,
                     generated,
                     context.clock.now(), str(job.payload.get("createdBy", NIL_UUID)),
                     first_attempt=job.attempt == 1 and not context.again, **options)
