"""Restore the domains' job data that revision 0012 deleted from embedded stores.

On SQLite, 0012 rebuilt `jobs` while foreign keys were on, and dropping the old table
deleted, through `ON DELETE CASCADE`, every row that referenced it: all of
`documents_jobs` and `installment_jobs`, and in stores made from 0009 on all of
`invoicing_jobs` and `delinquency_jobs`. Their jobs then answered 404 or 500. Revisions now
run with foreign keys off (`store.migrate.run_revisions`), so nothing is lost any more;
this revision rebuilds, for every job that has no row of its domain's data, the row from
what survived: the job's own row (its payload, result, status and times) and the
artifacts the job made. A store that lost nothing gains nothing.

What is derived, and what cannot be:

- **documents_jobs.** The trigger is the event's (`payload.context.event.trigger`), or
  `generated` for an invoice's or a delinquency notice's documents; a job postponed until a
  retrigger (queued until 9999) timed out when its row was last written. *Not derivable:*
  the render deadline in force when the job was made or last retriggered (the tenant's
  current `documents.timeoutSeconds` is used, else 120), and how many attempts started
  rendering since the last retrigger (0: a job rescued again gets its full allowance).
- **installment_jobs.** The type is the payload's `jobType`; the chain is the job's ordered
  key (or `quote:<quote>` / `policy:<policy>` for a job older than 0007). A createOrUpdate
  or unbill job that made its lattice is done when the lattice was made, and made the
  installments that name it; an invalidate job that finished retired the quote's newest
  billing lattice made before it, and its installments retired at the same instant; a
  finished unbill job with no lattice reversed nothing. A job not done yet gets a new
  lattice locator (nobody saw the one it was given), and an invalidate job after it in its
  chain retires that lattice; a failed job did nothing.
- **invoicing_jobs.** An instance's account, currency and generate time are in its payload,
  and its invoice is the one it made (else a new locator). An immediate or early invoicing
  job's type is that of the invoices it made. *Not derivable:* the request of an account
  job (`invoicingData`: the currencies of an immediate one, the installments, times and
  timezone named to an early one) beyond its account and what it invoiced; a job that ended
  without an invoice shows as `immediate`; an early job's `candidates` counts the
  installments it invoiced. An account job yet to run that made no invoice gets no row: its
  worker fails it for want of its data, and the account is invoiced again by asking again.
- **delinquency_jobs.** The type is the job's kind; a create job's invoice is its
  reference, its due time the invoice's, its delinquency the invoice's; a grace job's
  outcome is its result's; an event job's event is in its payload, and its trigger time is
  the event's if it is the event's job, else its run-at. A cancelled event job's reason is
  read from what it cancelled for: the event moved to another job (`rescheduled`, by that
  job), was cancelled (`cancellationRequested`), the delinquency was held
  (`delinquencyHeld`) or settled (`delinquencySettled`), or the tenant retired before it
  was cancelled (`tenantRetired`); a job that replaced an earlier job of its event
  rescheduled that event, and the next job of an event is the one that rescheduled it. *Not
  derivable:* the reason of a cancelled event job whose event and delinquency show none of
  these (null).

While the rows were missing, between 0012 and now, a quote priced again got no invalidate
job (its chain's last lattice could not be found), so its earlier lattice stood beside the
new one. Of each such quote's standing billing lattices, all but the newest are retired
now, with their installments, at the time the next was made (with no invalidate job to show
for it). A job whose worker failed it in those days for want of its data stays failed:
retry it.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from alembic import op

from policyjobs.engine.ids import new_locator
from policyjobs.engine.schema import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)
TIME = UTCDateTime()
FOREVER = datetime(9000, 1, 1, tzinfo=UTC)  # a run-at past this waits for a requeue
DEFAULT_TIMEOUT = 120
ENDED = ("finished", "failed", "cancelled")

jobs = sa.table(
    "jobs", *(sa.column(name) for name in (
        "id", "locator", "tenant", "kind", "reference_type", "reference_locator", "status",
        "ordered_key")),
    sa.column("payload", JSON), sa.column("result", JSON), sa.column("run_at", TIME),
    sa.column("created_at", TIME), sa.column("finished_at", TIME),
    sa.column("updated_at", TIME))
tenants = sa.table("tenants", sa.column("locator"), sa.column("config", JSON),
                   sa.column("retired_at", TIME))
documents_jobs = sa.table("documents_jobs", *(sa.column(name) for name in (
    "job_locator", "tenant", "trigger", "timeout_seconds", "render_attempts")),
    sa.column("timed_out_at", TIME))
installment_jobs = sa.table("installment_jobs", *(sa.column(name) for name in (
    "job_locator", "tenant", "job_type", "chain", "lattice_locator", "installment_locators")),
    sa.column("done_at", TIME))
lattices = sa.table("installment_lattices", *(sa.column(name) for name in (
    "locator", "tenant", "job_locator", "quote_locator", "policy_locator", "reversal")),
    sa.column("created_at", TIME), sa.column("invalidated_at", TIME))
installments = sa.table("installments", *(sa.column(name) for name in (
    "locator", "job_locator", "lattice_locator")), sa.column("invalidated_at", TIME))
invoicing_jobs = sa.table("invoicing_jobs", *(sa.column(name) for name in (
    "job_locator", "tenant", "invoicing_type", "account_locator", "currency",
    "invoice_locator", "candidates")), sa.column("generate_time", TIME),
    sa.column("invoicing_data", JSON))
invoices = sa.table("invoices", *(sa.column(name) for name in (
    "locator", "job_locator", "invoicing_type", "currency")), sa.column("due_time", TIME))
invoice_items = sa.table("invoice_items", sa.column("invoice_locator"),
                         sa.column("installment_locator"))
delinquency_jobs = sa.table("delinquency_jobs", *(sa.column(name) for name in (
    "job_locator", "tenant", "job_type", "invoice_locator", "delinquency_locator",
    "event_locator", "outcome", "cancellation_type", "rescheduled_by_locator")),
    sa.column("due_time", TIME), sa.column("trigger_time", TIME),
    sa.column("delinquency_locators", JSON), sa.column("updated_event_locators", JSON),
    sa.column("updated_at", TIME))
delinquencies = sa.table("delinquencies", *(sa.column(name) for name in (
    "locator", "invoice_locator", "state")), sa.column("held_at", TIME),
    sa.column("updated_at", TIME))
delinquency_events = sa.table("delinquency_events", *(sa.column(name) for name in (
    "locator", "delinquency_locator", "state", "job_locator")),
    sa.column("trigger_time", TIME), sa.column("updated_at", TIME))


def upgrade() -> None:
    conn = op.get_bind()
    _restore_documents_jobs(conn)
    _restore_installment_jobs(conn)
    _restore_invoicing_jobs(conn)
    _restore_delinquency_jobs(conn)


def downgrade() -> None:
    """Nothing to undo: the rows restored are what the store should have kept."""


def _orphans(conn: sa.Connection, kinds: Sequence[str], data: sa.TableClause,
             *columns: sa.ColumnElement[Any]) -> list[sa.Row[Any]]:
    """The jobs of `kinds` that have no row in `data`, oldest first, with `columns`."""
    return list(conn.execute(
        sa.select(jobs.c.locator, jobs.c.tenant, jobs.c.kind, jobs.c.status, *columns)
        .select_from(jobs.outerjoin(data, data.c.job_locator == jobs.c.locator))
        .where(jobs.c.kind.in_(kinds), data.c.job_locator.is_(None))
        .order_by(jobs.c.id)))


def _insert(conn: sa.Connection, table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    """Insert `rows`, each with every column any of them names (null where it has none)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    whole = [{name: row.get(name) for name in names} for row in rows]
    for start in range(0, len(whole), 500):
        conn.execute(table.insert(), whole[start:start + 500])


def _by(conn: sa.Connection, query: sa.Select[Any], column: sa.ColumnElement[Any],
        keys: Sequence[Any]) -> dict[Any, list[Any]]:
    """The rows of `query` whose `column` is one of `keys`, grouped by its first column; the
    keys go 500 at a time, so no statement grows with the store."""
    grouped: dict[Any, list[Any]] = {}
    for start in range(0, len(keys), 500):
        for row in conn.execute(query.where(column.in_(keys[start:start + 500]))):
            grouped.setdefault(row[0], []).append(row)
    return grouped


# -- documents --------------------------------------------------------------------------------


def _restore_documents_jobs(conn: sa.Connection) -> None:
    lost = _orphans(conn, ["documents"], documents_jobs,
                    jobs.c.payload["context"]["event"]["trigger"].as_string().label("trigger"),
                    jobs.c.run_at, jobs.c.updated_at)
    if not lost:
        return
    timeouts = _timeouts(conn, {row.tenant for row in lost})
    _insert(conn, documents_jobs, [
        {"job_locator": row.locator, "tenant": row.tenant,
         "trigger": row.trigger or "generated",
         "timeout_seconds": timeouts.get(row.tenant, DEFAULT_TIMEOUT), "render_attempts": 0,
         "timed_out_at": row.updated_at if row.status == "queued" and row.run_at >= FOREVER
         else None}
        for row in lost])


def _timeouts(conn: sa.Connection, tenant_locators: Iterable[str]) -> dict[str, int]:
    """Each tenant's configured render deadline, where it sets one."""
    found = {}
    for tenant in conn.execute(sa.select(tenants.c.locator, tenants.c.config)
                               .where(tenants.c.locator.in_(list(tenant_locators)))):
        seconds = ((tenant.config or {}).get("documents") or {}).get("timeoutSeconds")
        if isinstance(seconds, int) and seconds > 0:
            found[tenant.locator] = seconds
    return found


# -- installments -----------------------------------------------------------------------------


def _restore_installment_jobs(conn: sa.Connection) -> None:
    lost = _orphans(conn, ["installments"], installment_jobs, jobs.c.reference_type,
                    jobs.c.reference_locator, jobs.c.ordered_key, jobs.c.finished_at,
                    jobs.c.payload["jobType"].as_string().label("job_type"),
                    jobs.c.payload["references"]["policy"].as_string().label("policy"))
    if not lost:
        return
    made = _by(conn, sa.select(lattices.c.job_locator, lattices.c.locator, lattices.c.created_at),
               lattices.c.job_locator, [row.locator for row in lost])
    # Each chain's newest lattice given to a job that has not built it: an invalidate job
    # after that job in its chain retires that lattice (jobs are in order).
    promised: dict[str, str] = {}
    restored = []
    for row in lost:
        chain = row.ordered_key or (f"quote:{row.reference_locator}"
                                    if row.reference_type == "quote" else f"policy:{row.policy}")
        if row.job_type == "invalidate":
            done = _invalidated(conn, row, promised.get(chain))
        else:
            done = _installments_done(conn, row, made.get(row.locator, []))
            unbuilt = done["done_at"] is None and done["lattice_locator"] is not None
            if row.job_type == "createOrUpdate" and unbuilt:
                promised[chain] = done["lattice_locator"]
        restored.append({"job_locator": row.locator, "tenant": row.tenant,
                         "job_type": row.job_type, "chain": chain, **done})
    _insert(conn, installment_jobs, restored)
    _retire_superseded(conn)


def _retire_superseded(conn: sa.Connection) -> None:
    """Of each quote's standing billing lattices, retire all but the newest, each when the
    next was made, with its installments."""
    quote = (lattices.c.tenant, lattices.c.quote_locator)
    standing = sa.and_(lattices.c.quote_locator.is_not(None), lattices.c.policy_locator.is_(None),
                       lattices.c.reversal.is_(False), lattices.c.invalidated_at.is_(None))
    doubled = conn.execute(sa.select(*quote).where(standing).group_by(*quote)
                           .having(sa.func.count() > 1)).all()
    for tenant, quote_locator in doubled:
        found = conn.execute(sa.select(lattices.c.locator, lattices.c.created_at)
                             .where(standing, lattices.c.tenant == tenant,
                                    lattices.c.quote_locator == quote_locator)
                             .order_by(lattices.c.job_locator)).all()
        for older, newer in pairwise(found):
            conn.execute(lattices.update().where(lattices.c.locator == older.locator)
                         .values(invalidated_at=newer.created_at))
            conn.execute(installments.update()
                         .where(installments.c.lattice_locator == older.locator,
                                installments.c.invalidated_at.is_(None))
                         .values(invalidated_at=newer.created_at))


def _installments_done(conn: sa.Connection, job: Any, made: Sequence[Any]) -> dict[str, Any]:
    """A job's lattice, and, once its work committed, the installments it touched and when."""
    if made:
        lattice = made[0]
        touched = conn.execute(sa.select(installments.c.locator)
                               .where(installments.c.lattice_locator == lattice.locator)
                               .order_by(installments.c.locator)).scalars().all()
        return {"lattice_locator": lattice.locator, "installment_locators": ",".join(touched),
                "done_at": lattice.created_at}
    if job.job_type == "unbill":  # nothing to reverse: done when it finished
        done = job.status == "finished"
        return {"lattice_locator": None, "installment_locators": "" if done else None,
                "done_at": job.finished_at if done else None}
    return {"lattice_locator": None if job.status == "failed" else new_locator(),
            "installment_locators": None, "done_at": None}


def _invalidated(conn: sa.Connection, job: Any, promised: str | None) -> dict[str, Any]:
    """An invalidate job's lattice: the one `promised` to an earlier job of its chain that
    has not built it yet, else the quote's newest billing lattice made before it."""
    if promised is not None:  # it cannot have run before the lattice it retires was built
        return {"lattice_locator": promised, "installment_locators": None, "done_at": None}
    lattice = conn.execute(
        sa.select(lattices.c.locator, lattices.c.invalidated_at)
        .where(lattices.c.tenant == job.tenant,
               lattices.c.quote_locator == job.reference_locator,
               lattices.c.reversal.is_(False), lattices.c.job_locator < job.locator)
        .order_by(lattices.c.job_locator.desc()).limit(1)).first()
    if lattice is None or job.status != "finished":
        return {"lattice_locator": None if lattice is None else lattice.locator,
                "installment_locators": None, "done_at": None}
    retired = conn.execute(sa.select(installments.c.locator)
                           .where(installments.c.lattice_locator == lattice.locator,
                                  installments.c.invalidated_at == lattice.invalidated_at)
                           .order_by(installments.c.locator)).scalars().all()
    return {"lattice_locator": lattice.locator, "installment_locators": ",".join(retired),
            "done_at": lattice.invalidated_at or job.finished_at}


# -- invoicing --------------------------------------------------------------------------------


def _restore_invoicing_jobs(conn: sa.Connection) -> None:
    if not sa.inspect(conn).has_table("invoicing_jobs"):
        return
    lost = _orphans(conn, ["invoicing.instance", "invoicing.account"], invoicing_jobs,
                    jobs.c.reference_locator,
                    jobs.c.payload["accountLocator"].as_string().label("account"),
                    jobs.c.payload["currency"].as_string().label("currency"),
                    jobs.c.payload["generateTime"].as_string().label("generate_time"))
    if not lost:
        return
    made = _by(conn, sa.select(invoices.c.job_locator, invoices.c.locator,
                               invoices.c.invoicing_type, invoices.c.currency)
               .order_by(invoices.c.locator), invoices.c.job_locator,
               [row.locator for row in lost])
    _insert(conn, invoicing_jobs, [
        _instance_data(row, made.get(row.locator, [])) if row.kind == "invoicing.instance"
        else _account_data(conn, row, made.get(row.locator, []))
        for row in lost
        # An account job yet to run whose request is lost is left without: its worker
        # fails it, saying so, rather than invoice what nobody asked for.
        if row.kind == "invoicing.instance" or row.locator in made or row.status in ENDED])


def _instance_data(job: Any, made: Sequence[Any]) -> dict[str, Any]:
    return {"job_locator": job.locator, "tenant": job.tenant, "invoicing_type": "scheduled",
            "account_locator": job.account, "currency": job.currency,
            "generate_time": datetime.fromisoformat(job.generate_time)
            if job.generate_time else None,
            "invoice_locator": made[0].locator if made else new_locator(),
            "invoicing_data": {}, "candidates": 0}


def _account_data(conn: sa.Connection, job: Any, made: Sequence[Any]) -> dict[str, Any]:
    invoicing_type = made[0].invoicing_type if made else "immediate"
    data: dict[str, Any] = {"invoicingType": invoicing_type,
                            "accountLocator": job.reference_locator}
    billed: list[str] = []
    if made:
        billed = sorted(set(conn.execute(
            sa.select(invoice_items.c.installment_locator)
            .where(invoice_items.c.invoice_locator.in_([m.locator for m in made]))
        ).scalars()))
    if invoicing_type == "early":
        data["installmentsToBeInvoiced"] = billed
    else:
        data["currencies"] = sorted({m.currency for m in made})
    return {"job_locator": job.locator, "tenant": job.tenant, "invoicing_type": invoicing_type,
            "account_locator": job.reference_locator, "currency": None, "generate_time": None,
            "invoice_locator": None, "invoicing_data": data,
            "candidates": len(billed) if invoicing_type == "early" else 0}


# -- delinquency ------------------------------------------------------------------------------


def _restore_delinquency_jobs(conn: sa.Connection) -> None:
    if not sa.inspect(conn).has_table("delinquency_jobs"):
        return
    lost = _orphans(conn, ["delinquency.create", "delinquency.grace", "delinquency.event"],
                    delinquency_jobs, jobs.c.reference_locator, jobs.c.run_at, jobs.c.updated_at,
                    jobs.c.result["outcome"].as_string().label("outcome"),
                    jobs.c.payload["delinquencyEventLocator"].as_string().label("event"))
    if not lost:
        return
    retired = {t.locator: t.retired_at for t in conn.execute(
        sa.select(tenants.c.locator, tenants.c.retired_at)
        .where(tenants.c.retired_at.is_not(None)))}
    of_event: dict[str, list[str]] = {}  # each event's jobs, oldest first
    for row in lost:
        if row.event:
            of_event.setdefault(row.event, []).append(row.locator)
    restored = []
    for row in lost:
        if row.kind == "delinquency.create":
            data = _create_data(conn, row)
        elif row.kind == "delinquency.grace":
            data = {"job_type": "grace", "delinquency_locator": row.reference_locator,
                    "outcome": row.outcome}
        else:
            data = _event_data(conn, row, of_event.get(row.event, []), retired.get(row.tenant))
        restored.append({"job_locator": row.locator, "tenant": row.tenant,
                         "updated_at": row.updated_at, **data})
    _insert(conn, delinquency_jobs, restored)


def _create_data(conn: sa.Connection, job: Any) -> dict[str, Any]:
    due = conn.execute(sa.select(invoices.c.due_time)
                       .where(invoices.c.locator == job.reference_locator)).scalar()
    opened = conn.execute(sa.select(delinquencies.c.locator).where(
        delinquencies.c.invoice_locator == job.reference_locator)).scalars().all()
    return {"job_type": "create", "invoice_locator": job.reference_locator, "due_time": due,
            "delinquency_locators": list(opened) if job.status == "finished" else None}


def _event_data(conn: sa.Connection, job: Any, siblings: list[str],
                retired: datetime | None) -> dict[str, Any]:
    """An event job's data; `siblings` are the jobs of its event, itself among them;
    `retired`, when its tenant retired, if it did."""
    event = conn.execute(
        sa.select(delinquency_events.c.delinquency_locator, delinquency_events.c.state,
                  delinquency_events.c.job_locator, delinquency_events.c.trigger_time,
                  delinquency_events.c.updated_at)
        .where(delinquency_events.c.locator == job.event)).first()
    data: dict[str, Any] = {
        "job_type": "event", "event_locator": job.event,
        "delinquency_locator": None if event is None else event.delinquency_locator,
        "trigger_time": _trigger_time(job, event)}
    place = siblings.index(job.locator) if job.locator in siblings else 0
    if place > 0:
        data["updated_event_locators"] = [job.event]
    if job.status == "cancelled" and event is not None:
        later = siblings[place + 1] if place + 1 < len(siblings) else None
        data |= _cancelled_for(conn, job, event, later, retired)
    return data


def _trigger_time(job: Any, event: Any) -> datetime:
    """When an event job was to fire: its event's time if it is the event's job, else when
    it was to run (unless held, waiting for ever)."""
    mine = event is not None and (event.job_locator == job.locator or job.run_at >= FOREVER)
    when: datetime = event.trigger_time if mine else job.run_at
    return when


def _cancelled_for(conn: sa.Connection, job: Any, event: Any, later: str | None,
                   retired: datetime | None) -> dict[str, Any]:
    """Why an event job was cancelled, and when, read from what it was cancelled for; `later`
    is the next job of its event, if any. Settling, holding and cancelling one event write
    the event with the same instant as the delinquency."""
    if event.job_locator != job.locator:
        return {"cancellation_type": "rescheduled",
                "rescheduled_by_locator": later or event.job_locator}
    delinquency = conn.execute(
        sa.select(delinquencies.c.state, delinquencies.c.held_at, delinquencies.c.updated_at)
        .where(delinquencies.c.locator == event.delinquency_locator)).first()
    why = "cancellationRequested"
    if delinquency is not None and delinquency.held_at == event.updated_at:
        why = "delinquencyHeld"
    elif delinquency is not None and (delinquency.state, delinquency.updated_at) == (
            "settled", event.updated_at):
        why = "delinquencySettled"
    elif retired is not None and event.updated_at >= retired:
        why = "tenantRetired"
    return {"cancellation_type": why, "updated_at": event.updated_at}
