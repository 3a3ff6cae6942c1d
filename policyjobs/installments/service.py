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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Intake, JobRef
from policyjobs.engine import NewJob, new_locator
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.installments.inputs import quote_inputs, transaction_inputs
from policyjobs.installments.models import KIND, JobType, installment_jobs, installments
from policyjobs.intake.events import QuoteEvent, TransactionEvent, TransactionType, Trigger
from policyjobs.store.reads import in_tenant

CREATING = (TransactionType.ISSUANCE, TransactionType.CHANGE, TransactionType.RENEWAL,
            TransactionType.REINSTATEMENT)


@dataclass(frozen=True, slots=True)
class Planned:
    """One installments job to enqueue, with the lattice it will build or act on, if known."""

    job_type: JobType
    payload: dict[str, Any]
    lattice_locator: str | None = None
    locator: str = field(default_factory=new_locator)


def on_quote(intake: Intake, event: QuoteEvent) -> list[JobRef]:
    """A priced quote's createOrUpdate job, after invalidating its previous lattice if any."""
    if event.trigger is not Trigger.PRICED:
        return []
    inputs = quote_inputs(event, intake.config)
    chain = _quote_chain(event.locator)
    planned: list[Planned] = []
    previous = _last_lattice(intake.conn, intake.tenant, chain)
    if previous is not None:
        planned.append(Planned(JobType.INVALIDATE, {}, previous))
    planned.append(Planned(JobType.CREATE_OR_UPDATE, {
        "inputs": inputs.as_json(), "references": {"quote": event.locator},
    }, new_locator()))
    return _enqueue(intake, chain, ("quote", event.locator), planned)


def on_transaction(intake: Intake, event: TransactionEvent) -> list[JobRef]:
    """An issued transaction's createOrUpdate or unbill job."""
    if event.trigger is not Trigger.ISSUED:
        return []
    references = {"transaction": event.locator, "policy": event.policyLocator,
                  "term": event.termLocator}
    payload: dict[str, Any] = {"references": references, "accountLocator": event.accountLocator,
                               "transactionType": str(event.transactionType)}
    if event.transactionType in CREATING:
        payload["inputs"] = transaction_inputs(event, intake.config).as_json()
        planned = Planned(JobType.CREATE_OR_UPDATE, payload, new_locator())
    elif event.transactionType is TransactionType.CANCELLATION:
        if event.effectiveTime is None:
            raise InvalidInput("a cancellation needs its effectiveTime to unbill from", [
                FieldProblem("effectiveTime", "required for a cancellation")])
        planned = Planned(JobType.UNBILL, {**payload, "from": event.effectiveTime.isoformat()})
    else:
        if event.reversedTransactionLocator is None:
            raise InvalidInput("a reversal needs the transaction it reverses", [
                FieldProblem("reversedTransactionLocator", "required for a reversal")])
        planned = Planned(JobType.UNBILL,
                          {**payload, "reversed": event.reversedTransactionLocator})
    return _enqueue(intake, _policy_chain(event.policyLocator), ("transaction", event.locator),
                    [planned])


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


def _policy_chain(locator: str) -> str:
    return f"policy:{locator}"


def _last_lattice(conn: sa.Connection, tenant: str, chain: str) -> str | None:
    """The lattice of the chain's newest createOrUpdate job."""
    return conn.execute(
        in_tenant(installment_jobs, tenant, installment_jobs.c.lattice_locator)
        .where(installment_jobs.c.chain == chain,
               installment_jobs.c.job_type == JobType.CREATE_OR_UPDATE)
        .order_by(installment_jobs.c.job_locator.desc()).limit(1)
    ).scalar()


def _enqueue(intake: Intake, chain: str, reference: tuple[str, str],
             planned: Sequence[Planned]) -> list[JobRef]:
    """Enqueue `planned` at the end of `chain`, their ordered key."""
    intake.queue.enqueue(intake.conn, [
        NewJob(KIND, intake.tenant,
               {"jobType": str(plan.job_type), "createdBy": intake.created_by, **plan.payload},
               reference_type=reference[0], reference_locator=reference[1],
               ordered_key=chain, created_by=intake.created_by, locator=plan.locator)
        for plan in planned
    ])
    intake.conn.execute(installment_jobs.insert(), [
        {"job_locator": plan.locator, "tenant": intake.tenant, "job_type": str(plan.job_type),
         "chain": chain, "lattice_locator": plan.lattice_locator}
        for plan in planned
    ])
    return [JobRef(KIND, plan.locator) for plan in planned]


def mark_invoiced(conn: sa.Connection, *, tenant: str, installment_locators: Iterable[str],
                  invoice_locator: str, now: datetime, by: str) -> list[str]:
    """Record that an invoice bills these installments; the ones it could take.

    An installment is invoiced at most once, and never once reversed or invalidated.
    This is the hook invoicing calls; tests call it to stand in for an invoice.
    """
    taken = conn.execute(
        installments.update()
        .where(installments.c.tenant == tenant,
               installments.c.locator.in_(list(installment_locators)),
               installments.c.invoice_locator.is_(None),
               installments.c.invalidated_at.is_(None),
               installments.c.reversed_by_locator.is_(None))
        .values(invoice_locator=invoice_locator, updated_at=now, updated_by=by)
        .returning(installments.c.locator)
    ).scalars().all()
    return sorted(taken)
