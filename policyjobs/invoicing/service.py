"""Invoicing: schedules from tenant configurations, invoices from installments, payments.

Every invoice is made by `invoice`, in the transaction of the job that makes it: it locks
the installments it bills, marks them invoiced through the installments domain, and writes
the invoice and one item per installment item, whose unique key keeps any installment item
from being billed twice. An invoice bills one account in one currency; its due time is
the earliest of its installments' that owe money (a credit invoice, whose reversals credit
more than the rest bills, is due and settled when it is made), unless early invoicing names
one. Money owed back becomes the account's credit (`credit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from babel.numbers import is_currency

from policyjobs.documents.service import on_invoice_generated
from policyjobs.domain import Intake, JobRef
from policyjobs.engine import NewJob, new_locator
from policyjobs.engine.calendar import Daily, known_timezone
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.schedules import Schedule
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.installments.inputs import currency_quantum
from policyjobs.installments.service import Billable, accounts_of, billable, mark_invoiced
from policyjobs.invoicing import credit
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.invoicing.events import ImmediateInvoicingEvent, PaymentEvent
from policyjobs.invoicing.models import (
    ACCOUNT,
    GENERATION,
    InvoiceState,
    InvoicingType,
    PaymentSource,
    invoice_generation_references,
    invoice_items,
    invoice_payments,
    invoices,
    invoicing_jobs,
)
from policyjobs.store.reads import TENANT, in_tenant
from policyjobs.store.writes import insert_missing
from policyjobs.tenants.config import CoreConfig, StoredConfig
from policyjobs.tenants.service import active_tenants, get_tenant


@dataclass(frozen=True, slots=True)
class InvoiceMade:
    """A new invoice, as other domains learn of it."""

    tenant: str
    locator: str
    account_locator: str
    currency: str
    timezone: str
    due_time: datetime
    total: Decimal
    created_by: str


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class InvoiceListeners:
    """What other domains do when an invoice is made or settled, in that transaction.

    The composition root wires them, so invoicing need not know who listens.
    """

    made: Callable[[sa.Connection, JobQueue, InvoiceMade], None] = _ignore
    settled: Callable[[sa.Connection, JobQueue, str, str], None] = _ignore  # tenant, invoice


# Statements of the hot paths, built once and bound per call.
_INVOICE = in_tenant(invoices, TENANT).where(invoices.c.locator == sa.bindparam("locator"))
_LOCKED_INVOICE = _INVOICE.with_for_update()
_PAY = invoices.update().where(invoices.c.locator == sa.bindparam("invoice"))
_MADE_BY = sa.select(invoices.c.currency, invoices.c.locator).where(
    invoices.c.job_locator == sa.bindparam("job"))
_NEW_INVOICE = invoices.insert()
_NEW_ITEMS = invoice_items.insert()
_ITEMS_OF = (sa.select(invoice_items)
             .where(invoice_items.c.invoice_locator == sa.bindparam("invoice"))
             .order_by(invoice_items.c.locator))


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


def on_payment(intake: Intake, event: PaymentEvent,
               listeners: InvoiceListeners = InvoiceListeners()) -> list[JobRef]:
    """Record a payment against its invoice, which is settled once payments reach its total;
    what it pays beyond what the invoice owes becomes the account's credit, which pays its
    other open invoices, oldest first. `listeners` hear of each settlement in the same
    transaction."""
    found = intake.conn.execute(_INVOICE, {"tenant": intake.tenant,
                                           "locator": event.invoiceLocator}).first()
    if found is None:
        raise InvalidInput(f"no invoice {event.invoiceLocator}", [
            FieldProblem("invoiceLocator", f"no invoice {event.invoiceLocator} in this tenant")])
    problems = []
    if event.currency != found.currency:
        problems.append(FieldProblem("currency", f"the invoice is in {found.currency}, "
                                                 f"not {event.currency}"))
    elif event.amount != event.amount.quantize(currency_quantum(found.currency)):
        problems.append(FieldProblem("amount", f"{event.amount} is finer than "
                                               f"{found.currency}'s minor unit"))
    if event.amount <= 0:
        problems.append(FieldProblem("amount", "a payment is more than zero"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    now = intake.queue.clock.now()
    account = credit.Account(intake.tenant, found.account_locator, found.currency)
    balance = credit.lock(intake.conn, account, now)  # before the invoice: see `credit`
    found = intake.conn.execute(_LOCKED_INVOICE, {"tenant": intake.tenant,
                                                  "locator": found.locator}).one()
    owed = found.total - found.paid if found.state == InvoiceState.OPEN else Decimal(0)
    applied = min(event.amount, max(owed, Decimal(0)))
    intake.conn.execute(invoice_payments.insert(), {
        "locator": new_locator(), "tenant": intake.tenant, "invoice_locator": found.locator,
        "amount": event.amount, "currency": event.currency, "source": PaymentSource.PAYMENT,
        "credited": event.amount - applied, "received_at": now,
        "created_by": intake.created_by})

    def settled(invoice: str) -> None:
        listeners.settled(intake.conn, intake.queue, intake.tenant, invoice)

    if applied > 0:
        paid = found.paid + applied
        intake.conn.execute(_PAY, {
            "invoice": found.locator, "paid": paid,
            "state": InvoiceState.SETTLED if paid >= found.total else InvoiceState.OPEN,
            "settled_time": now if paid >= found.total else None})
        if paid >= found.total:
            settled(found.locator)
    if applied < event.amount:  # beyond what the invoice owed: the account's credit
        credit.use(intake.conn, account, balance + event.amount - applied, now=now,
                   by=intake.created_by, settled=settled)
    return []


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


def start_early_invoicing(conn: sa.Connection, queue: JobQueue, *, tenant: str,
                          request: EarlyInvoicing, created_by: str) -> tuple[str, int]:
    """The early-invoicing job of a request, and how many installments it may bill now."""
    get_tenant(conn, tenant)
    found = accounts_of(conn, tenant=tenant, locators=request.installment_locators)
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
    candidates = len(early_billable(conn, tenant, account, request, lock=False))
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


def early_billable(conn: sa.Connection, tenant: str, account: str, request: EarlyInvoicing,
                   lock: bool = True) -> list[Billable]:
    """What an early invoicing bills: the named installments, and those generating by its
    through time."""
    return billable(conn, tenant=tenant, account=account, through=request.through,
                    locators=request.installment_locators, lock=lock)


# -- invoices ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invoicing:
    """Who invoices, how, and when: what every invoice of one job shares."""

    conn: sa.Connection
    queue: JobQueue
    tenant: str
    job_locator: str
    invoicing_type: InvoicingType
    generated: datetime
    now: datetime
    created_by: str
    due_time: datetime | None = None
    timezone: str | None = None
    generation_job: str | None = None  # the run an instance belongs to
    listeners: InvoiceListeners = InvoiceListeners()
    first_attempt: bool = False  # the job's first: no earlier attempt made an invoice


def invoice(work: Invoicing, installments: Sequence[Billable],
            locator: str | None = None) -> list[str]:
    """Invoice `installments`, one invoice per currency (`locator` names the first); the
    locators made. A job run again finds its invoices made and makes none."""
    by_currency: dict[str, list[Billable]] = {}
    for found in installments:
        by_currency.setdefault(found.currency, []).append(found)
    made_before = {} if work.first_attempt else {
        row.currency: row.locator for row in work.conn.execute(_MADE_BY, {"job": work.job_locator})}
    made = []
    for currency, group in sorted(by_currency.items()):
        if currency in made_before:
            made.append(made_before[currency])
            continue
        if (invoiced := _one_invoice(work, currency, group, locator or new_locator())):
            made.append(invoiced)
            locator = None
    return made


def _one_invoice(work: Invoicing, currency: str, group: list[Billable],
                 locator: str) -> str | None:
    """The invoice of `group`, or None if another invoice took them all first (they are
    locked by `billable`, so only a caller that did not lock them can see this)."""
    items = [(found, item, new_locator()) for found in group for item in found.items]
    billings: dict[str, dict[str, str]] = {found.locator: {} for found in group}
    for found, item, billed in items:
        billings[found.locator][item.locator] = billed
    taken = set(mark_invoiced(
        work.conn, tenant=work.tenant, installment_locators=list(billings),
        invoice_locator=locator, now=work.now, by=work.created_by, invoice_items=billings))
    items = [entry for entry in items if entry[0].locator in taken]
    group = [found for found in group if found.locator in taken]
    if not group:
        return None
    total = sum((item.amount for _, item, _ in items), Decimal(0))
    owing = [found.due_time for found in group if found.total > 0]  # not a credit's
    values: dict[str, Any] = {
        "locator": locator, "tenant": work.tenant, "job_locator": work.job_locator,
        "invoicing_type": work.invoicing_type, "account_locator": group[0].account_locator,
        "currency": currency, "timezone": work.timezone or group[0].timezone,
        "start_time": min(b.installment_start for b in group),
        "end_time": max(b.installment_end for b in group),
        "generated_time": work.generated,
        "due_time": work.due_time or (min(owing) if owing else work.generated),
        "total": total, "paid": Decimal(0),
        "state": InvoiceState.SETTLED if total <= 0 else InvoiceState.OPEN,
        "settled_time": work.now if total <= 0 else None,
        "created_at": work.now, "created_by": work.created_by,
    }
    work.conn.execute(_NEW_INVOICE, values)
    work.conn.execute(_NEW_ITEMS, [
        {"locator": billed, "tenant": work.tenant, "invoice_locator": locator,
         "installment_locator": found.locator, "installment_item_locator": item.locator,
         "charge_locator": item.charge_locator, "charge_type": item.charge_type,
         "element_locator": item.element_locator, "quote_locator": found.quote_locator,
         "policy_locator": found.policy_locator,
         "transaction_locator": found.transaction_locator, "amount": item.amount,
         "created_at": work.now}
        for found, item, billed in items])
    if work.generation_job:
        _link(work, group)
    _use_credit(work, credit.Account(work.tenant, values["account_locator"], currency), total)
    config = get_tenant(work.conn, work.tenant).config
    on_invoice_generated(work.conn, work.queue, tenant=work.tenant, config=config,
                         invoice=_invoice_context(values, items), created_by=work.created_by)
    work.listeners.made(work.conn, work.queue, InvoiceMade(
        work.tenant, locator, values["account_locator"], currency, values["timezone"],
        values["due_time"], total, work.created_by))
    return locator


def _use_credit(work: Invoicing, account: credit.Account, total: Decimal) -> None:
    """A new invoice uses the account's credit; a credit invoice's amount becomes credit,
    which pays the account's open invoices, oldest first."""
    balance = credit.lock(work.conn, account, work.now)
    if total < 0:
        balance -= total
    if balance > 0:
        credit.use(work.conn, account, balance, now=work.now, by=work.created_by,
                   settled=lambda invoice: work.listeners.settled(work.conn, work.queue,
                                                                  work.tenant, invoice))


def _link(work: Invoicing, group: list[Billable]) -> None:
    """Remember that this run invoiced these quotes' and policies' installments."""
    references = {("quote", b.quote_locator) for b in group if b.quote_locator} | {
        ("policy", b.policy_locator) for b in group if b.policy_locator}
    insert_missing(work.conn, invoice_generation_references, [
        {"tenant": work.tenant, "reference_type": reference_type,
         "reference_locator": reference_locator, "job_locator": work.generation_job}
        for reference_type, reference_locator in sorted(references)])


@dataclass(frozen=True, slots=True)
class InvoiceStanding:
    """Where an invoice stands: what other domains may read of it."""

    locator: str
    account_locator: str
    currency: str
    timezone: str
    due_time: datetime
    settled: bool


def lock_invoice(conn: sa.Connection, *, tenant: str, locator: str) -> InvoiceStanding:
    """An invoice of the tenant, its row held until the caller's transaction ends, so that a
    payment settling it and work that depends on whether it is settled take turns."""
    row = conn.execute(_LOCKED_INVOICE, {"tenant": tenant, "locator": locator}).one()
    return InvoiceStanding(row.locator, row.account_locator, row.currency, row.timezone,
                           row.due_time, row.state == InvoiceState.SETTLED)


def invoice_context(conn: sa.Connection, *, tenant: str, locator: str) -> dict[str, Any]:
    """An invoice with its items, as document templates see it."""
    row = conn.execute(_INVOICE, {"tenant": tenant, "locator": locator}).one()
    items = conn.execute(_ITEMS_OF, {"invoice": locator}).all()
    values = dict(row._mapping)
    return {**_invoice_context(values, []), "invoiceState": row.state,
            "invoiceItems": [{"locator": item.locator, "chargeType": item.charge_type,
                              "chargeLocator": item.charge_locator, "amount": str(item.amount),
                              "installmentLocator": item.installment_locator,
                              "policyLocator": item.policy_locator,
                              "quoteLocator": item.quote_locator} for item in items]}


def _invoice_context(values: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """An invoice as its documents' templates see it."""
    return {
        "locator": values["locator"], "accountLocator": values["account_locator"],
        "currency": values["currency"], "timezone": values["timezone"],
        "startTime": values["start_time"].isoformat(), "endTime": values["end_time"].isoformat(),
        "generatedTime": values["generated_time"].isoformat(),
        "dueTime": values["due_time"].isoformat(), "totalAmount": str(values["total"]),
        "invoiceItems": [{"locator": billed, "chargeType": item.charge_type,
                   "chargeLocator": item.charge_locator, "amount": str(item.amount),
                   "installmentLocator": found.locator,
                   "policyLocator": found.policy_locator, "quoteLocator": found.quote_locator}
                  for found, item, billed in items],
    }
