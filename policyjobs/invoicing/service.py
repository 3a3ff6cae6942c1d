"""Invoicing's schedules and requests: each tenant's daily generation schedule, kept from its
configuration, and the immediate and early invoicing of an account. The invoices themselves
are made by `invoices`, and paid by `payments`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Intake, JobRef
from policyjobs.engine import NewJob
from policyjobs.engine.calendar import Daily, known_timezone
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.schedules import Schedule
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.invoicing.events import ImmediateInvoicingEvent
from policyjobs.invoicing.models import ACCOUNT, GENERATION, InvoicingType, invoicing_jobs
from policyjobs.invoicing.ports import Billable, Installments
from policyjobs.money import is_currency
from policyjobs.tenants.config import CoreConfig, StoredConfig
from policyjobs.tenants.service import active_tenants, get_tenant


def schedule_key(tenant: str) -> str:
    """The key of a tenant's invoice generation schedule."""
    return f"{GENERATION}:{tenant}"


def account_key(account: str) -> str:
    """The ordered key of an account's invoicing jobs: one runs at a time."""
    return f"account:{account}"


# -- the generation schedule ------------------------------------------------------------------


def on_tenant_configured(conn: sa.Connection, queue: JobQueue, tenant: str,
                         config: StoredConfig) -> None:
    """Keep the tenant's generation schedule at its time of day, in its timezone."""
    every = Daily.parse(config.section(InvoicingSection).invoicing.generate_time_of_day,
                        config.section(CoreConfig).timezone)
    queue.schedule(conn, Schedule(schedule_key(tenant), tenant, GENERATION, every))


def schedule_every_tenant(queue: JobQueue, now: datetime) -> int:
    """Give every active tenant that lacks one its generation schedule (a tenant made before
    invoicing was, or by a path that skipped the runtime's hooks); how many were given."""
    with queue.db.begin() as conn:
        tenants = {schedule_key(t): t for t in active_tenants(conn)}
        scheduled = queue.scheduled(conn, list(tenants))
        missing = [t for key, t in tenants.items() if key not in scheduled]
        for tenant in missing:
            on_tenant_configured(conn, queue, tenant, get_tenant(conn, tenant).config)
    return len(missing)


def on_tenant_retired(conn: sa.Connection, queue: JobQueue, tenant: str) -> None:
    """A retired tenant's schedule stops; its invoices stay."""
    queue.unschedule(conn, schedule_key(tenant))


# -- intake -----------------------------------------------------------------------------------


def on_immediate_invoicing(intake: Intake, event: ImmediateInvoicingEvent) -> list[JobRef]:
    """An account-level job that invoices, in each currency, what has come due."""
    problems = [FieldProblem(f"currencies[{i}]", f"{c!r} is not an ISO 4217 currency")
                for i, c in enumerate(event.currencies) if not is_currency(c)]
    if problems:
        raise InvalidInput(problems[0].message, problems)
    data = {"invoicingType": str(InvoicingType.IMMEDIATE), "accountLocator": event.accountLocator,
            "currencies": sorted(set(event.currencies))}
    return [JobRef(ACCOUNT, _account_job(intake.conn, intake.queue, intake.tenant,
                                         event.accountLocator, InvoicingType.IMMEDIATE, data,
                                         intake.created_by))]


@dataclass(frozen=True, slots=True)
class EarlyInvoicing:
    """A request to invoice named installments now, whatever their generate time."""

    installment_locators: Sequence[str]
    account_locator: str | None = None
    through: datetime | None = None
    due_time: datetime | None = None
    timezone: str | None = None
    ignore_holds: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EarlyInvoicing:
        """The request as its job's `invoicingData` keeps it."""
        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(tuple(data["installmentsToBeInvoiced"]), data["accountLocator"],
                   when("invoiceThroughTime"), when("invoiceDueTime"), data.get("timezone"),
                   bool(data.get("ignoreHolds", False)))


def start_early_invoicing(conn: sa.Connection, queue: JobQueue, installments: Installments, *,
                          tenant: str, request: EarlyInvoicing,
                          created_by: str) -> tuple[str, int]:
    """The early-invoicing job of a request, and how many installments it may bill now."""
    get_tenant(conn, tenant)
    found = installments.accounts_of(conn, tenant=tenant, locators=request.installment_locators)
    if unknown := [FieldProblem(f"installmentLocators[{i}]", "no such installment")
                   for i, locator in enumerate(request.installment_locators)
                   if locator not in found]:
        raise InvalidInput(f"{len(unknown)} of the named installments do not exist", unknown)
    accounts = sorted(set(found.values())
                      | ({request.account_locator} if request.account_locator else set()))
    if not accounts:
        raise InvalidInput("name the account, or an installment of it", [FieldProblem(
            "accountLocator", "required when no installment is named")])
    if len(accounts) > 1:
        raise InvalidInput(f"the installments belong to {len(accounts)} accounts", [FieldProblem(
            "installmentLocators", f"name installments of one account, not of "
                                   f"{', '.join(accounts)}")])
    account = accounts[0]
    if request.timezone and not known_timezone(request.timezone):
        raise InvalidInput(f"{request.timezone!r} is not a known IANA timezone", [
            FieldProblem("timezone", "not a known IANA timezone")])
    candidates = len(early_billable(conn, installments, tenant, account, request, lock=False))
    data: dict[str, Any] = {
        "invoicingType": str(InvoicingType.EARLY), "accountLocator": account,
        "installmentsToBeInvoiced": list(request.installment_locators)}
    if request.timezone:
        data["timezone"] = request.timezone
    if request.due_time:
        data["invoiceDueTime"] = request.due_time.isoformat()
    if request.through:
        data["invoiceThroughTime"] = request.through.isoformat()
    data["ignoreHolds"] = request.ignore_holds
    job = _account_job(conn, queue, tenant, account, InvoicingType.EARLY, data, created_by,
                       candidates=candidates)
    return job, candidates


def _account_job(conn: sa.Connection, queue: JobQueue, tenant: str, account: str,
                 invoicing_type: InvoicingType, data: dict[str, Any], created_by: str,
                 candidates: int = 0) -> str:
    job = NewJob(ACCOUNT, tenant, {"createdBy": created_by}, reference_type="account",
                 reference_locator=account, ordered_key=account_key(account),
                 created_by=created_by)
    [locator] = queue.enqueue(conn, [job])
    conn.execute(invoicing_jobs.insert().values(
        job_locator=locator, tenant=tenant, invoicing_type=invoicing_type,
        account_locator=account, invoicing_data=data, candidates=candidates))
    return locator


def early_billable(conn: sa.Connection, installments: Installments, tenant: str, account: str,
                   request: EarlyInvoicing, lock: bool = True) -> Sequence[Billable]:
    """What an early invoicing bills: the named installments, and those generating by its
    through time."""
    return installments.billable(conn, tenant=tenant, account=account, through=request.through,
                                 locators=request.installment_locators, lock=lock)
