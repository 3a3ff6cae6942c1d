"""Installments jobs from intake events, run one at a time per quote and per policy.

A priced quote makes a createOrUpdate job, preceded by an invalidate job for the
quote's previous lattice when it was priced before. An issued issuance, change,
renewal or reinstatement makes a createOrUpdate job; a cancellation or reversal an
unbill job.

Each quote and each policy is a chain: its jobs run in the order their events
arrived, because each one builds on what the one before left (a change aligns to
the issuance's lattice, a cancellation unbills what was billed). The chain is the
jobs' ordered key, so the engine runs them one at a time, in creation order, and
starts the next as each one ends, however it ends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Intake, JobRef
from policyjobs.engine import JobQueue, JobStatus, NewJob, new_locator
from policyjobs.engine.actions import not_failed, requeue_failed
from policyjobs.engine.registry import Verdicts
from policyjobs.engine.view import JOBS as jobs
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.installments.inputs import BillingInputs, quote_inputs, transaction_inputs
from policyjobs.installments.lattice import Span
from policyjobs.installments.models import (
    KIND,
    JobType,
    installment_items,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.intake.events import QuoteEvent, TransactionEvent, TransactionType, Trigger
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_all, json_rows

CREATING = (TransactionType.ISSUANCE, TransactionType.CHANGE, TransactionType.RENEWAL,
            TransactionType.REINSTATEMENT)


_JOBS_AGAIN = installment_jobs.alias("newer")


@dataclass(frozen=True, slots=True)
class Planned:
    """One installments job to enqueue, with the lattice it will build or act on, if known."""

    job_type: JobType
    payload: dict[str, Any]
    lattice_locator: str | None = None
    locator: str = field(default_factory=new_locator)


def on_quote(intake: Intake, event: QuoteEvent) -> list[JobRef]:
    """A priced quote's createOrUpdate job, after invalidating its previous lattice if any."""
    made = on_quotes(intake, [event])
    assert made is not None  # one event is refused by raising
    return made[0]


def on_quotes(intake: Intake, events: Sequence[QuoteEvent]) -> list[list[JobRef]] | None:
    """`on_quote` for each event, in their order: the chains' previous lattices read, the
    jobs enqueued and their rows written, in one statement each for all. None, having
    written nothing, if any event is refused (one alone raises)."""
    try:
        inputs = [quote_inputs(event, intake.config) if event.trigger is Trigger.PRICED
                  else None for event in events]
    except InvalidInput:
        if len(events) == 1:
            raise
        return None
    last = _last_lattices(intake.conn, intake.tenant, {
        _quote_chain(event.locator) for event, given in zip(events, inputs, strict=True)
        if given is not None})
    plans: list[Plan | None] = []
    for event, given in zip(events, inputs, strict=True):
        if given is None:
            plans.append(None)
            continue
        chain = _quote_chain(event.locator)
        planned: list[Planned] = []
        if (previous := last.get(chain)) is not None:
            planned.append(Planned(JobType.INVALIDATE, {}, previous))
        last[chain] = lattice = new_locator()  # a second pricing in the batch invalidates it
        planned.append(Planned(JobType.CREATE_OR_UPDATE, {
            "inputs": given.as_json(), "references": {"quote": event.locator}}, lattice))
        plans.append(Plan(chain, ("quote", event.locator), planned))
    return _enqueue(intake, plans)


def on_transaction(intake: Intake, event: TransactionEvent) -> list[JobRef]:
    """An issued transaction's createOrUpdate or unbill job."""
    if event.trigger is not Trigger.ISSUED:
        return []
    payload = _transaction_payload(event)
    if event.transactionType in CREATING:
        payload["inputs"] = transaction_inputs(event, intake.config).as_json()
        planned = Planned(JobType.CREATE_OR_UPDATE, payload, new_locator())
    elif event.transactionType is TransactionType.CANCELLATION:
        if event.effectiveTime is None:
            raise InvalidInput("a cancellation needs its effectiveTime to unbill from", [
                FieldProblem("effectiveTime", "required for a cancellation")])
        _check_effective(intake, event, event.effectiveTime)
        planned = Planned(JobType.UNBILL, {**payload, "from": event.effectiveTime.isoformat()})
    else:
        if event.reversedTransactionLocator is None:
            raise InvalidInput("a reversal needs the transaction it reverses", [
                FieldProblem("reversedTransactionLocator", "required for a reversal")])
        planned = Planned(JobType.UNBILL,
                          {**payload, "reversed": event.reversedTransactionLocator})
    [made] = _enqueue(intake, [Plan(_policy_chain(event.policyLocator),
                                    ("transaction", event.locator), [planned])])
    return made


def on_transactions(intake: Intake,
                    events: Sequence[TransactionEvent]) -> list[list[JobRef]] | None:
    """`on_transaction` for each event, in their order, their jobs enqueued and their rows
    written in one statement each, when each makes a createOrUpdate job or none. None,
    having written nothing, if any event is refused, or unbills (a cancellation checks
    the terms that the jobs before it in the batch would bill)."""
    if any(event.trigger is Trigger.ISSUED and event.transactionType not in CREATING
           for event in events):
        return None
    try:
        inputs = [transaction_inputs(event, intake.config) if event.trigger is Trigger.ISSUED
                  else None for event in events]
    except InvalidInput:
        return None
    return _enqueue(intake, [
        None if given is None else Plan(
            _policy_chain(event.policyLocator), ("transaction", event.locator),
            [Planned(JobType.CREATE_OR_UPDATE,
                     {**_transaction_payload(event), "inputs": given.as_json()}, new_locator())])
        for event, given in zip(events, inputs, strict=True)])


def _transaction_payload(event: TransactionEvent) -> dict[str, Any]:
    references = {"transaction": event.locator, "policy": event.policyLocator,
                  "term": event.termLocator}
    return {"references": references, "accountLocator": event.accountLocator,
            "transactionType": str(event.transactionType)}


def _check_effective(intake: Intake, event: TransactionEvent, effective: datetime) -> None:
    """A cancellation takes effect within one of the policy's terms (the one it names, if
    it names one), not before the policy starts; a policy that bills nothing yet may be
    cancelled at any time."""
    terms = _terms(intake, event.policyLocator, event.termLocator)
    if not terms:
        return
    start = min(term.start for term in terms)
    if effective < start:
        raise InvalidInput(f"the cancellation takes effect before policy {event.policyLocator} "
                           "starts", [FieldProblem("effectiveTime", f"before the policy's "
                                                   f"start, {start.isoformat()}")])
    if not any(term.start <= effective <= term.end for term in terms):
        spans = ", ".join(f"{t.start.isoformat()} to {t.end.isoformat()}"
                          for t in sorted(set(terms), key=lambda t: t.start))
        raise InvalidInput(f"the cancellation takes effect outside the terms of policy "
                           f"{event.policyLocator}", [FieldProblem(
                               "effectiveTime", f"outside the policy's terms ({spans})")])


def _terms(intake: Intake, policy: str, term: str | None) -> list[Span]:
    """The spans the policy's billings cover, of its term `term` if given: those of its
    lattices, and of its createOrUpdate jobs that have not built theirs yet but may (of
    this very batch, say; its chain is held by `lock_chains`)."""
    lattices = (in_tenant(installment_lattices, intake.tenant, installment_lattices.c.term_start,
                          installment_lattices.c.term_end)
                .where(installment_lattices.c.policy_locator == policy,
                       installment_lattices.c.reversal.is_(False),
                       installment_lattices.c.invalidated_at.is_(None)))
    if term is not None:  # a lattice of no named term may be of this one
        lattices = lattices.where(sa.or_(installment_lattices.c.term_locator == term,
                                         installment_lattices.c.term_locator.is_(None)))
    spans = [Span(row.term_start, row.term_end) for row in intake.conn.execute(lattices)]
    pending = (sa.select(jobs.c.payload)
               .join(installment_jobs, installment_jobs.c.job_locator == jobs.c.locator)
               .where(installment_jobs.c.tenant == intake.tenant,
                      installment_jobs.c.chain == _policy_chain(policy),
                      installment_jobs.c.job_type == JobType.CREATE_OR_UPDATE,
                      installment_jobs.c.done_at.is_(None),
                      jobs.c.status.not_in([JobStatus.FAILED, JobStatus.CANCELLED])))
    # (a failed or cancelled job never builds one)
    for (payload,) in intake.conn.execute(pending):
        if term is None or payload["references"].get("term") in (None, term):
            spans.append(BillingInputs.from_json(payload["inputs"]).span)
    return spans


def lock_chains(intake: Intake, events: Sequence[Any]) -> None:
    """Hold the chains of every event of a batch that makes installments jobs, so that a
    concurrent batch cannot enqueue into them until this one commits: `on_quote` reads the
    chain's last lattice to invalidate it. The engine takes all of them in one order."""
    chains = {(intake.tenant, chain) for event in events if (chain := _chain_of(event))}
    intake.queue.lock_ordered(intake.conn, chains)


def _chain_of(event: Any) -> str | None:
    """The chain an event's installments jobs join, if it makes any."""
    if isinstance(event, QuoteEvent) and event.trigger is Trigger.PRICED:
        return _quote_chain(event.locator)
    if isinstance(event, TransactionEvent) and event.trigger is Trigger.ISSUED:
        return _policy_chain(event.policyLocator)
    return None


def _quote_chain(locator: str) -> str:
    return f"quote:{locator}"


_LATER = (sa.select(jobs.c.locator)
          .where(jobs.c.tenant == sa.bindparam("tenant"),
                 jobs.c.ordered_key == sa.bindparam("chain"), jobs.c.id > sa.bindparam("id"),
                 jobs.c.status != JobStatus.CANCELLED)
          .limit(1))
OUT_OF_ORDER = "a later job of its quote or policy exists: a retry would run out of order"


def retry_jobs(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's retry of failed installments jobs: each runs again only while it is the
    last of its chain (its quote's or policy's jobs, which build on each other in order);
    once a later one exists, a retry would apply it out of order, and a new event for the
    quote or policy is the way on."""
    verdicts: Verdicts = {}
    for row in rows:
        if row.status != JobStatus.FAILED:
            verdicts[row.locator] = not_failed(row)
        elif conn.execute(_LATER, {"tenant": row.tenant, "chain": row.ordered_key,
                                   "id": row.id}).first() is not None:
            verdicts[row.locator] = OUT_OF_ORDER
        else:
            verdicts.update(requeue_failed(conn, queue, [row]))
    return verdicts


def _policy_chain(locator: str) -> str:
    return f"policy:{locator}"


_NEWEST_CREATE = sa.select(sa.func.max(_JOBS_AGAIN.c.job_locator)).where(
    _JOBS_AGAIN.c.tenant == installment_jobs.c.tenant,
    _JOBS_AGAIN.c.chain == installment_jobs.c.chain,
    _JOBS_AGAIN.c.job_type == JobType.CREATE_OR_UPDATE).scalar_subquery()
_LAST_LATTICES = (in_tenant(installment_jobs, TENANT, installment_jobs.c.chain,
                            installment_jobs.c.lattice_locator)
                  .where(installment_jobs.c.chain.in_(sa.bindparam("chains", expanding=True)),
                         installment_jobs.c.job_locator == _NEWEST_CREATE))


def _last_lattices(conn: sa.Connection, tenant: str, chains: Iterable[str]) -> dict[str, str]:
    """The lattice of each chain's newest createOrUpdate job, for the chains that have one."""
    wanted = sorted(chains)
    if not wanted:
        return {}
    return {row.chain: row.lattice_locator for row in conn.execute(
        _LAST_LATTICES, {"tenant": tenant, "chains": wanted})}


@dataclass(frozen=True, slots=True)
class Plan:
    """An event's installments jobs, to enqueue at the end of `chain`, their ordered key."""

    chain: str
    reference: tuple[str, str]  # the event's (type, locator)
    planned: Sequence[Planned]


def _enqueue(intake: Intake, plans: Sequence[Plan | None]) -> list[list[JobRef]]:
    """Enqueue each plan's jobs, in order, in one statement for all, and write their rows in
    another; each plan's jobs (none for None)."""
    chosen = [(plan, planned) for plan in plans if plan is not None for planned in plan.planned]
    intake.queue.enqueue(intake.conn, [
        NewJob(KIND, intake.tenant,
               {"jobType": str(planned.job_type), "createdBy": intake.created_by,
                **planned.payload},
               reference_type=plan.reference[0], reference_locator=plan.reference[1],
               ordered_key=plan.chain, created_by=intake.created_by, locator=planned.locator)
        for plan, planned in chosen])
    insert_all(intake.conn, installment_jobs, [
        {"job_locator": planned.locator, "tenant": intake.tenant,
         "job_type": str(planned.job_type), "chain": plan.chain,
         "lattice_locator": planned.lattice_locator}
        for plan, planned in chosen])
    return [[] if plan is None else [JobRef(KIND, planned.locator) for planned in plan.planned]
            for plan in plans]


@dataclass(frozen=True, slots=True)
class BillableItem:
    """One charge's share of an installment that an invoice may bill."""

    locator: str
    charge_locator: str
    charge_type: str
    element_locator: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Billable:
    """An installment not yet invoiced, with its items: what invoicing reads of installments."""

    locator: str
    account_locator: str
    currency: str
    timezone: str
    installment_start: datetime
    installment_end: datetime
    generate_time: datetime
    due_time: datetime
    quote_locator: str | None
    policy_locator: str | None
    transaction_locator: str | None
    items: tuple[BillableItem, ...]

    @property
    def total(self) -> Decimal:
        """What the installment bills: negative for a reversal's credit."""
        return sum((item.amount for item in self.items), Decimal(0))


# What an invoice may bill: an installment to be billed (`bills`: a policy's billing, or a
# reversal that credits what was billed; see `unbill`) that no invoice has yet. A quote's
# installments show what it would bill and are never invoiced; its policy's are. The same
# predicate as the `installments_billable` indexes, written as they write it.
_BILLABLE = sa.and_(sa.text("installments.bills"), installments.c.invoice_locator.is_(None))


def billable_groups(conn: sa.Connection, *, tenant: str,
                    through: datetime) -> list[tuple[str, str]]:
    """The (account, currency) pairs that have installments to invoice by `through`."""
    rows = conn.execute(
        sa.select(installments.c.account_locator, installments.c.currency).distinct()
        .where(installments.c.tenant == tenant, _BILLABLE,
               installments.c.generate_time <= through)
        .order_by(installments.c.account_locator, installments.c.currency))
    return [(str(row[0]), str(row[1])) for row in rows]


def accounts_of(conn: sa.Connection, *, tenant: str, locators: Iterable[str]) -> dict[str, str]:
    """The account each of the named installments of the tenant bills, by installment; an
    installment the tenant does not have is left out."""
    query = (in_tenant(installments, tenant, installments.c.locator,
                       installments.c.account_locator)
             .where(installments.c.locator.in_(list(locators))))
    return {row.locator: row.account_locator for row in conn.execute(query)}


def billable(conn: sa.Connection, *, tenant: str, account: str | None = None,
             currency: str | None = None, through: datetime | None = None,
             locators: Iterable[str] | None = None, accounts: Iterable[str] | None = None,
             lock: bool = True) -> list[Billable]:
    """The installments an invoice may bill, oldest first, each row locked (with `lock`)
    until the caller's transaction ends: of one account (or of any of `accounts`; and
    currency) whose generate time has come by `through`, or the named ones whatever their
    generate time, or both."""
    given = {"tenant": tenant, "account": account, "currency": currency, "through": through,
             "locators": None if locators is None else list(locators),
             "accounts": None if accounts is None else list(accounts)}
    query = _billable_query(*(given[name] is not None for name in _CHOICES), lock=lock)
    found: dict[str, tuple[Any, list[BillableItem]]] = {}
    for row in conn.execute(query, {k: v for k, v in given.items() if v is not None}):
        _, items = found.setdefault(row.locator, (row, []))
        if row.item_locator is not None:
            items.append(BillableItem(row.item_locator, row.item_charge_locator,
                                      row.item_charge_type, row.item_element_locator,
                                      row.item_amount))
    return [Billable(row.locator, row.account_locator, row.currency, row.timezone,
                     row.installment_start, row.installment_end, row.generate_time,
                     row.due_time, row.quote_locator, row.policy_locator,
                     row.transaction_locator, tuple(items)) for row, items in found.values()]


_CHOICES = ("account", "currency", "through", "locators", "accounts")
# The installments come with their items, one row each (one row with no item if it has
# none); only the installments are locked.
_WITH_ITEMS = installments.outerjoin(
    installment_items, installment_items.c.installment_locator == installments.c.locator)
_ITEM_COLUMNS = [installment_items.c[name].label(f"item_{name}") for name in (
    "locator", "charge_locator", "charge_type", "element_locator", "amount")]


@functools.cache
def _billable_query(account: bool, currency: bool, through: bool, locators: bool,
                    accounts: bool, *, lock: bool) -> sa.Select[Any]:
    """The statement of `billable` for the arguments given, built once for each choice."""
    query = (sa.select(installments, *_ITEM_COLUMNS).select_from(_WITH_ITEMS)
             .where(installments.c.tenant == TENANT, _BILLABLE))
    if account:
        query = query.where(installments.c.account_locator == sa.bindparam("account"))
    if accounts:
        query = query.where(installments.c.account_locator.in_(
            sa.bindparam("accounts", expanding=True)))
    if currency:
        query = query.where(installments.c.currency == sa.bindparam("currency"))
    chosen = []
    if through:
        chosen.append(installments.c.generate_time <= sa.bindparam("through"))
    if locators:
        chosen.append(installments.c.locator.in_(sa.bindparam("locators", expanding=True)))
    if chosen:
        query = query.where(sa.or_(*chosen))
    query = query.order_by(installments.c.installment_start, installments.c.locator,
                           installment_items.c.locator)
    return query.with_for_update(of=installments) if lock else query


# By primary key alone: with the tenant in the condition too, the planner may walk a
# tenant-wide index for a handful of keys. The tenant is checked on what was taken, and an
# installment of another tenant undoes the caller's transaction. Each statement joins the
# rows of a JSON array, so that one statement marks every invoice's installments.
_PAIRS = json_rows("pairs", "installment", "invoice")
_BILLINGS = json_rows("billings", "item", "billing")


@functools.cache
def _mark(dialect: str) -> sa.Executable:
    pairs = _PAIRS[dialect]
    return (installments.update()
            .where(installments.c.locator == pairs.c.installment,
                   installments.c.invoice_locator.is_(None), installments.c.bills.is_(True))
            .values(invoice_locator=pairs.c.invoice, updated_at=sa.bindparam("now"),
                    updated_by=sa.bindparam("by"))
            .returning(installments.c.locator, installments.c.tenant,
                       installments.c.invoice_locator))


@functools.cache
def _bill(dialect: str) -> sa.Executable:
    billings = _BILLINGS[dialect]
    return (installment_items.update()
            .where(installment_items.c.locator == billings.c.item)
            .values(invoice_item_locator=billings.c.billing))


def mark_invoiced(conn: sa.Connection, *, tenant: str, invoices: Mapping[str, Iterable[str]],
                  now: datetime, by: str,
                  invoice_items: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """Record that each invoice of `invoices` bills its installments of `tenant` (invoice →
    installments); each installment an invoice could take, with that invoice.

    An installment is invoiced at most once, and only while it is to be billed (not
    cancelled by a reversal, not a quote's).
    `invoice_items` maps each installment to its items' invoice items (item → invoice item).
    """
    pairs = [{"installment": installment, "invoice": invoice}
             for invoice, chosen in invoices.items() for installment in chosen]
    if not pairs:
        return {}
    dialect = conn.dialect.name
    rows = conn.execute(_mark(dialect), {"pairs": json.dumps(pairs), "now": now,
                                         "by": by}).all()
    if any(row.tenant != tenant for row in rows):
        raise ValueError(f"an installment of another tenant than {tenant} was to be invoiced")
    taken = {row.locator: row.invoice_locator for row in rows}
    items = invoice_items or {}
    billed = [{"item": item, "billing": billing}
              for locator in sorted(taken) for item, billing in items.get(locator, {}).items()]
    if billed:
        conn.execute(_bill(dialect), {"billings": json.dumps(billed)})
    return taken
