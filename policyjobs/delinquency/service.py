"""Delinquencies: opened at an unsettled invoice's due time, ended at grace end, with events.

An invoice that is still unsettled at its due time opens a delinquency in grace; its grace
ends `gracePeriodDays` local days later, when a grace job lapses it (or finds it settled),
and each configured event fires at its trigger time, marking itself triggered and
rendering its notice. A payment that settles the invoice, a hold, a new grace end, a
request or the tenant's retirement cancels the jobs of pending events, each saying why.

Every change locks in one order: the invoice (as a payment does), then the delinquency,
then its events. So a payment and a grace end take turns and resolve to one outcome on
both stores, and no two changes deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.delinquency.config import DelinquencyEvent, DelinquencySection
from policyjobs.delinquency.events import (
    DelinquencyEventCancelEvent,
    DelinquencyHoldEvent,
    DelinquencyRescheduleEvent,
)
from policyjobs.delinquency.models import (
    CREATE,
    EVENT,
    GRACE,
    CancellationType,
    DelinquencyState,
    EventState,
    JobType,
    delinquencies,
    delinquency_events,
    delinquency_jobs,
)
from policyjobs.delinquency.ports import MadeInvoice, Ports
from policyjobs.delinquency.timeline import grace_end, trigger_time
from policyjobs.documents.config import DocumentDefinition, DocumentScope
from policyjobs.domain import Intake, JobRef, Tell, untold
from policyjobs.engine import JobStatus, NewJob, new_locator
from policyjobs.engine.actions import (
    CHANGED,
    UNSTARTED,
    cancel_unstarted,
    not_cancellable,
    not_failed,
    requeue_failed,
)
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.registry import Verdicts
from policyjobs.exceptions import Conflict, FieldProblem, InvalidInput, NotFound
from policyjobs.intake.events import Trigger
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_all
from policyjobs.tenants.service import get_tenant

ADVANCE_LAPSE_TO = "issued"  # what DelinquencySettings.advanceLapseTo reports

# Statements of the hot paths, built once and bound per call.
_LOCKED = (in_tenant(delinquencies, TENANT)
           .where(delinquencies.c.locator == sa.bindparam("locator")).with_for_update())
_LOCKED_OF_INVOICES = (in_tenant(delinquencies, TENANT)
                       .where(delinquencies.c.invoice_locator.in_(
                           sa.bindparam("invoices", expanding=True)))
                       .order_by(delinquencies.c.locator).with_for_update())
_OF_INVOICE = sa.select(delinquencies.c.locator).where(
    delinquencies.c.invoice_locator == sa.bindparam("invoice"))
_EVENT = in_tenant(delinquency_events, TENANT).where(
    delinquency_events.c.locator == sa.bindparam("locator"))
_LOCKED_EVENT = _EVENT.with_for_update()
_ACTIVE_EVENTS = sa.select(delinquency_events).where(
    delinquency_events.c.delinquency_locator == sa.bindparam("delinquency"),
    delinquency_events.c.state == EventState.ACTIVE).order_by(delinquency_events.c.locator)
_INVOICE_OF = sa.select(delinquencies.c.invoice_locator).where(
    delinquencies.c.locator == sa.bindparam("delinquency"))
_NEW_DELINQUENCY = delinquencies.insert()
_NEW_EVENT = delinquency_events.insert()
_NEW_JOB_DATA = delinquency_jobs.insert()
# The columns to set are the parameters given besides the key.
_SET_DELINQUENCY = delinquencies.update().where(
    delinquencies.c.locator == sa.bindparam("delinquency"))
_SET_EVENT = delinquency_events.update().where(
    delinquency_events.c.locator == sa.bindparam("event"))
_SET_JOB_DATA = delinquency_jobs.update().where(
    delinquency_jobs.c.job_locator == sa.bindparam("job"))
_SET_JOBS_DATA = delinquency_jobs.update().where(
    delinquency_jobs.c.job_locator.in_(sa.bindparam("jobs", expanding=True)))


# -- from invoicing ---------------------------------------------------------------------------


def on_invoices_made(conn: sa.Connection, queue: JobQueue,
                     made: Sequence[MadeInvoice]) -> None:
    """Check each new invoice at its due time: a job that opens a delinquency if it is
    unsettled. The jobs and their rows are written in one statement each."""
    jobs = [NewJob(CREATE, invoice.tenant, {"createdBy": invoice.created_by},
                   reference_type="invoice", reference_locator=invoice.locator,
                   run_at=invoice.due_time, created_by=invoice.created_by)
            for invoice in made]
    now = queue.clock.now()
    insert_all(conn, delinquency_jobs, [
        {"job_locator": locator, "tenant": invoice.tenant, "job_type": JobType.CREATE,
         "updated_at": now, "invoice_locator": invoice.locator, "due_time": invoice.due_time}
        for invoice, locator in zip(made, queue.enqueue(conn, jobs), strict=True)])


def on_invoices_settled(conn: sa.Connection, queue: JobQueue, tenant: str,
                        invoice_locators: Sequence[str], *, tell: Tell = untold) -> None:
    """Payments settled the invoices: each one's delinquency in grace is settled (and told
    of), its pending events cancelled. Its grace job still ends the grace, finding it
    settled. The invoices' delinquencies are read and held in one statement."""
    now = queue.clock.now()
    for found in conn.execute(_LOCKED_OF_INVOICES, {"tenant": tenant,
                                                    "invoices": sorted(invoice_locators)}):
        if found.state != DelinquencyState.IN_GRACE:
            continue
        _set(conn, found.locator, state=DelinquencyState.SETTLED, updated_at=now)
        _cancel_events(conn, queue, found.locator, CancellationType.DELINQUENCY_SETTLED, now)
        _tell(tell, conn, queue, tenant, DelinquencyState.SETTLED, found.locator,
              found.invoice_locator)


_ACCOUNT_OF = sa.select(delinquencies.c.account_locator).where(
    delinquencies.c.locator == sa.bindparam("delinquency"))


def _tell(tell: Tell, conn: sa.Connection, queue: JobQueue, tenant: str,
          state: DelinquencyState, locator: str, invoice_locator: str) -> None:
    """Tell of a delinquency that came to `state`."""
    change = {DelinquencyState.IN_GRACE: "created", DelinquencyState.SETTLED: "settled",
              DelinquencyState.LAPSE_TRIGGERED: "lapseTriggered"}[state]
    account = conn.execute(_ACCOUNT_OF, {"delinquency": locator}).scalar_one()
    tell(conn, queue, tenant, f"delinquency.delinquency.{change}",
         {"delinquencyLocator": locator, "invoiceLocator": invoice_locator,
          "accountLocator": account})


# -- the jobs ---------------------------------------------------------------------------------


def open_delinquency(conn: sa.Connection, queue: JobQueue, ports: Ports, *, tenant: str,
                     job_locator: str, invoice_locator: str, by: str) -> list[str]:
    """At the invoice's due time: a delinquency in grace if it is unsettled; its locators.
    An invoice has one delinquency at most: a job run again finds it open."""
    invoice = ports.lock_invoice(conn, tenant=tenant, locator=invoice_locator)
    if invoice.settled:
        return []
    existing = conn.execute(_OF_INVOICE, {"invoice": invoice_locator}).scalar()
    if existing is not None:
        return [str(existing)]
    settings = get_tenant(conn, tenant).config.section(DelinquencySection).delinquency
    now, locator = queue.clock.now(), new_locator()
    start = invoice.due_time
    end = grace_end(start, settings.grace_period_days, invoice.timezone)
    grace = NewJob(GRACE, tenant, {}, reference_type="delinquency", reference_locator=locator,
                   run_at=end, created_by=by)
    queue.enqueue(conn, [grace])
    conn.execute(_NEW_DELINQUENCY, {
        "locator": locator, "tenant": tenant, "invoice_locator": invoice_locator,
        "account_locator": invoice.account_locator, "timezone": invoice.timezone,
        "state": DelinquencyState.IN_GRACE, "grace_start": start, "grace_end": end,
        "settings": {"gracePeriodDays": settings.grace_period_days,
                     "lapseTransactionType": settings.lapse_transaction_type,
                     "advanceLapseTo": ADVANCE_LAPSE_TO, "delinquencyLevel": "invoice"},
        "configured_events": [{"name": e.name, "offsetBasis": str(e.offset_basis),
                               "offsetDays": e.offset_days} for e in settings.events],
        "grace_job_locator": grace.locator, "created_at": now, "created_by": by,
        "updated_at": now})
    _job_data(conn, grace.locator, tenant, JobType.GRACE, now, delinquency_locator=locator)
    for event in settings.events:
        _schedule_event(conn, queue, tenant, locator, event,
                        trigger_time(event, start, end, invoice.timezone), now, by)
    _tell(ports.tell, conn, queue, tenant, DelinquencyState.IN_GRACE, locator, invoice_locator)
    return [locator]


def end_grace(conn: sa.Connection, queue: JobQueue, ports: Ports, *, tenant: str,
              delinquency_locator: str, job_locator: str) -> str | None:
    """At grace end: the delinquency lapses unless its invoice was settled; the outcome.
    None if this job no longer ends the grace: the delinquency was held, or a reschedule
    gave the grace end to another job (a job retried by an operator may be either)."""
    invoice_locator = conn.execute(_INVOICE_OF,
                                   {"delinquency": delinquency_locator}).scalar_one()
    invoice = ports.lock_invoice(conn, tenant=tenant, locator=invoice_locator)
    found = _lock(conn, tenant, delinquency_locator)
    if grace_ended_elsewhere(found, job_locator):
        return None
    if found.state == DelinquencyState.SETTLED or invoice.settled:
        outcome = DelinquencyState.SETTLED
    else:
        outcome = DelinquencyState.LAPSE_TRIGGERED
    if found.state != outcome:
        _set(conn, found.locator, state=outcome, updated_at=queue.clock.now())
        _tell(ports.tell, conn, queue, tenant, outcome, found.locator, invoice_locator)
    return str(outcome)


def grace_ended_elsewhere(delinquency: Any, job_locator: str) -> str | None:
    """Why grace job `job_locator` no longer ends the grace of `delinquency` (a row), if it
    does not."""
    if delinquency.held_at is not None:
        return "the delinquency is held: its grace no longer ends"
    if delinquency.grace_job_locator != job_locator:
        return "a reschedule gave the grace end to another job"
    return None


def unfired(delinquency: Any, event: Any, job_locator: str) -> str | None:
    """Why job `job_locator` does not fire `event` of `delinquency` (rows), if it does not."""
    if delinquency.state == DelinquencyState.SETTLED:
        return "the delinquency settled: nothing to do"
    if delinquency.held_at is not None:
        return "the delinquency is held: nothing to do"
    if event.state != EventState.ACTIVE:
        return f"the event is already {event.state}: nothing to do"
    if event.job_locator != job_locator:
        return "a reschedule gave the event to another job"
    return None


def fire_event(conn: sa.Connection, queue: JobQueue, ports: Ports, *, tenant: str,
               event_locator: str, job_locator: str, by: str) -> bool:
    """At an event's trigger time: mark it triggered and render its notice; False if it no
    longer waits for this job (cancelled or moved since), or its delinquency was settled or
    held. An event fires even once its delinquency lapsed: the scheduler may run a grace end
    and the events before it in any order after a jump of the clock."""
    delinquency = _lock(conn, tenant, _event_row(conn, tenant, event_locator).delinquency_locator)
    event = _event_row(conn, tenant, event_locator, lock=True)
    if unfired(delinquency, event, job_locator) is not None:
        return False
    now = queue.clock.now()
    _set_event(conn, event_locator, state=EventState.TRIGGERED, triggered_at=now,
               updated_at=now, updated_by=by)
    if event.notice:
        _render_notice(conn, queue, ports, tenant, delinquency, event, by)
    ports.tell(conn, queue, tenant, "delinquency.event.fired", {
        "delinquencyLocator": delinquency.locator, "eventLocator": event_locator,
        "jobLocator": job_locator})
    return True


def _render_notice(conn: sa.Connection, queue: JobQueue, ports: Ports, tenant: str,
                   delinquency: Any, event: Any, by: str) -> None:
    notice = event.notice
    definition = DocumentDefinition(static_name=notice["staticName"], name=notice["name"],
                                    trigger=Trigger.GENERATED, scope=DocumentScope.INVOICE,
                                    format=notice["format"], template=notice["template"])
    made = Intake(conn, queue, tenant, get_tenant(conn, tenant).config, by)
    invoice = ports.invoice_context(conn, tenant=tenant, locator=delinquency.invoice_locator)
    ports.render_notice(made, invoice, [definition],
                       delinquency={"locator": delinquency.locator,
                                    "state": delinquency.state,
                                    "graceStartedAt": delinquency.grace_start.isoformat(),
                                    "graceEndAt": delinquency.grace_end.isoformat()},
                       delinquencyEvent={"locator": event.locator, "name": event.name,
                                         "triggerTime": event.trigger_time.isoformat()})


# -- requests from intake ---------------------------------------------------------------------


def on_hold(intake: Intake, event: DelinquencyHoldEvent) -> list[JobRef]:
    """Hold a delinquency in grace: its pending events and its lapse wait no more."""
    found = _pending(intake, event.delinquencyLocator, "held")
    now = intake.queue.clock.now()
    conn = intake.conn
    _set(conn, found.locator, held_at=now, updated_at=now)
    _cancel_events(conn, intake.queue, found.locator, CancellationType.DELINQUENCY_HELD, now)
    _cancel_grace(conn, intake.queue, found.grace_job_locator, now)
    return []


def on_reschedule(intake: Intake, event: DelinquencyRescheduleEvent) -> list[JobRef]:
    """Move a delinquency's grace end: a new grace job, and new jobs for the pending events
    whose trigger time moves; the old jobs are cancelled, naming the new ones."""
    found = _pending(intake, event.delinquencyLocator, "rescheduled")
    end: datetime = event.graceEndTime
    if end <= found.grace_start:
        raise InvalidInput("the grace cannot end before it starts", [FieldProblem(
            "graceEndTime", f"must be after the grace start {found.grace_start.isoformat()}")])
    conn, queue, now, by = intake.conn, intake.queue, intake.queue.clock.now(), intake.created_by
    grace = NewJob(GRACE, intake.tenant, {}, reference_type="delinquency",
                   reference_locator=found.locator, run_at=end, created_by=by)
    _cancel_grace(conn, queue, found.grace_job_locator, now)
    queue.enqueue(conn, [grace])
    _job_data(conn, grace.locator, intake.tenant, JobType.GRACE, now,
              delinquency_locator=found.locator)
    _set(conn, found.locator, grace_end=end, grace_job_locator=grace.locator, updated_at=now)
    made = [JobRef(GRACE, grace.locator)]
    configured = {e["name"]: DelinquencyEvent.model_validate(e)
                  for e in found.configured_events}
    for row in _active_events(conn, found.locator):
        moved = trigger_time(configured[row.name], found.grace_start, end, found.timezone) \
            if row.name in configured else row.trigger_time
        if moved == row.trigger_time:
            continue
        job = _event_job(intake.tenant, found.locator, row.locator, moved, by)
        queue.enqueue(conn, [job])
        _job_data(conn, job.locator, intake.tenant, JobType.EVENT, now,
                  delinquency_locator=found.locator, event_locator=row.locator,
                  trigger_time=moved, updated_event_locators=[row.locator])
        _cancel_job(conn, queue, row.job_locator, CancellationType.RESCHEDULED, now,
                    rescheduled_by=job.locator)
        _set_event(conn, row.locator, trigger_time=moved, job_locator=job.locator,
                   updated_at=now, updated_by=by)
        made.append(JobRef(EVENT, job.locator))
    return made


def on_event_cancel(intake: Intake, event: DelinquencyEventCancelEvent) -> list[JobRef]:
    """Cancel one pending delinquency event, at a request."""
    try:
        first = _event_row(intake.conn, intake.tenant, event.delinquencyEventLocator)
    except NotFound:
        raise InvalidInput(f"no delinquency event {event.delinquencyEventLocator}", [
            FieldProblem("delinquencyEventLocator", "no such delinquency event")]) from None
    _lock(intake.conn, intake.tenant, first.delinquency_locator)  # as a payment locks: first
    row = _event_row(intake.conn, intake.tenant, first.locator, lock=True)
    if row.state != EventState.ACTIVE:
        raise Conflict(f"delinquency event {row.locator} is already {row.state}: "
                       "there is nothing to cancel")
    now = intake.queue.clock.now()
    _cancel_job(intake.conn, intake.queue, row.job_locator,
                CancellationType.CANCELLATION_REQUESTED, now)
    _set_event(intake.conn, row.locator, state=EventState.CANCELLED, updated_at=now,
               updated_by=intake.created_by)
    return []


def on_tenant_retired(conn: sa.Connection, queue: JobQueue, tenant: str) -> None:
    """A retired tenant's pending delinquency events and grace ends are cancelled."""
    now = queue.clock.now()
    for row in conn.execute(in_tenant(delinquencies, tenant)
                            .where(delinquencies.c.state == DelinquencyState.IN_GRACE)
                            .with_for_update()).all():
        _cancel_events(conn, queue, row.locator, CancellationType.TENANT_RETIRED, now)
        _cancel_grace(conn, queue, row.grace_job_locator, now)


# -- operators' actions (`JobKind.retry` and `JobKind.cancel`) -----------------------------


def retry_grace(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's retry of failed grace jobs: each runs again if it still ends its
    delinquency's grace, which has not ended; else it is skipped, saying why."""
    verdicts: Verdicts = {}
    for row in rows:
        found = _lock(conn, row.tenant, str(row.reference_locator))
        why = (not_failed(row) if row.status != JobStatus.FAILED
               else grace_ended_elsewhere(found, row.locator) or _grace_over(found))
        verdicts.update({row.locator: why} if why else requeue_failed(conn, queue, [row]))
    return verdicts


def _grace_over(delinquency: Any) -> str | None:
    if delinquency.state == DelinquencyState.SETTLED:
        return "the delinquency settled: nothing to do"
    if delinquency.state != DelinquencyState.IN_GRACE:
        return f"the delinquency is already {delinquency.state}: nothing to do"
    return None


def retry_event(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's retry of failed event jobs: each runs again if its event would still
    fire; else it is skipped, saying why (its delinquency settled, say)."""
    verdicts: Verdicts = {}
    for row in rows:
        if row.status != JobStatus.FAILED:
            verdicts[row.locator] = not_failed(row)
            continue
        delinquency, event = _event_locked(conn, row)
        why = unfired(delinquency, event, row.locator)
        verdicts.update({row.locator: why} if why else requeue_failed(conn, queue, [row]))
    return verdicts


def cancel_grace(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's cancel of grace jobs not started: the delinquency is held, as the
    vendor's hold holds it, its pending events cancelled as requested (`cancellationRequested`),
    and the grace job with them, so the delinquency neither lapses nor waits for a lapse."""
    verdicts: Verdicts = {}
    for row in rows:
        found = _lock(conn, row.tenant, str(row.reference_locator))
        if (row.status not in UNSTARTED or grace_ended_elsewhere(found, row.locator)
                or _grace_over(found)):
            verdicts.update(cancel_unstarted(conn, queue, [row]))
            continue
        now = queue.clock.now()
        _set(conn, found.locator, held_at=now, updated_at=now)
        _cancel_events(conn, queue, found.locator, CancellationType.CANCELLATION_REQUESTED, now)
        done = _cancel_job(conn, queue, row.locator, CancellationType.CANCELLATION_REQUESTED, now)
        verdicts[row.locator] = None if done else CHANGED
    return verdicts


def cancel_event(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's cancel of event jobs not started: the vendor's cancellation of the
    event (`cancellationRequested`), as a `delinquencyEventCancel` event makes it."""
    verdicts: Verdicts = {}
    for row in rows:
        if row.status not in UNSTARTED:
            verdicts[row.locator] = not_cancellable(row)
            continue
        _, event = _event_locked(conn, row)
        if event.state != EventState.ACTIVE or event.job_locator != row.locator:
            verdicts.update(cancel_unstarted(conn, queue, [row]))
            continue
        now = queue.clock.now()
        if _cancel_job(conn, queue, row.locator, CancellationType.CANCELLATION_REQUESTED, now):
            _set_event(conn, event.locator, state=EventState.CANCELLED, updated_at=now)
            verdicts[row.locator] = None
        else:
            verdicts[row.locator] = CHANGED
    return verdicts


def _event_locked(conn: sa.Connection, row: Any) -> tuple[Any, Any]:
    """The delinquency and the event of an event job (a row), locked in that order."""
    tenant, locator = row.tenant, str(row.payload["delinquencyEventLocator"])
    delinquency = _lock(conn, tenant, _event_row(conn, tenant, locator).delinquency_locator)
    return delinquency, _event_row(conn, tenant, locator, lock=True)


# -- shared steps -----------------------------------------------------------------------------


def _pending(intake: Intake, locator: str, what: str) -> Any:
    """A delinquency of the tenant still in grace and not held, locked; 400 or 409 if not."""
    found = intake.conn.execute(_LOCKED, {"tenant": intake.tenant, "locator": locator}).first()
    if found is None:
        raise InvalidInput(f"no delinquency {locator}", [
            FieldProblem("delinquencyLocator", "no such delinquency")])
    if found.state != DelinquencyState.IN_GRACE:
        raise Conflict(f"delinquency {locator} is already {found.state}; it cannot be {what}")
    if found.held_at is not None:
        raise Conflict(f"delinquency {locator} is held; it cannot be {what}")
    return found


def _lock(conn: sa.Connection, tenant: str, locator: str) -> Any:
    found = conn.execute(_LOCKED, {"tenant": tenant, "locator": locator}).first()
    if found is None:
        raise NotFound(f"no delinquency {locator}")
    return found


def _event_row(conn: sa.Connection, tenant: str, locator: str, lock: bool = False) -> Any:
    """A delinquency event of the tenant; lock it only once its delinquency is locked."""
    found = conn.execute(_LOCKED_EVENT if lock else _EVENT,
                         {"tenant": tenant, "locator": locator}).first()
    if found is None:
        raise NotFound(f"no delinquency event {locator}")
    return found


def _active_events(conn: sa.Connection, delinquency_locator: str) -> Sequence[Any]:
    return conn.execute(_ACTIVE_EVENTS, {"delinquency": delinquency_locator}).all()


def _cancel_events(conn: sa.Connection, queue: JobQueue, delinquency_locator: str,
                   why: CancellationType, now: datetime) -> None:
    """Cancel the jobs of the delinquency's pending events, and the events."""
    for row in _active_events(conn, delinquency_locator):
        _cancel_job(conn, queue, row.job_locator, why, now)
        _set_event(conn, row.locator, state=EventState.CANCELLED, updated_at=now)


def _cancel_job(conn: sa.Connection, queue: JobQueue, job_locator: str, why: CancellationType,
                now: datetime, rescheduled_by: str | None = None) -> bool:
    """Cancel an event's job, recording why; whether it was (not if it had started)."""
    if not queue.cancel(conn, [job_locator]):
        return False
    set_job_data(conn, job_locator, cancellation_type=why,
                 rescheduled_by_locator=rescheduled_by, updated_at=now)
    return True


def _cancel_grace(conn: sa.Connection, queue: JobQueue, job_locator: str,
                  now: datetime) -> None:
    if queue.cancel(conn, [job_locator]):  # a grace job under way ends as it ends
        set_job_data(conn, job_locator, updated_at=now)


def _schedule_event(conn: sa.Connection, queue: JobQueue, tenant: str, delinquency: str,
                    config: DelinquencyEvent, when: datetime, now: datetime, by: str) -> None:
    locator = new_locator()
    job = _event_job(tenant, delinquency, locator, when, by)
    queue.enqueue(conn, [job])
    conn.execute(_NEW_EVENT, {
        "locator": locator, "tenant": tenant, "delinquency_locator": delinquency,
        "name": config.name, "state": EventState.ACTIVE, "trigger_time": when,
        "job_locator": job.locator,
        "notice": config.notice.model_dump(mode="json", by_alias=True) if config.notice else None,
        "created_at": now, "created_by": by, "updated_at": now, "updated_by": by})
    _job_data(conn, job.locator, tenant, JobType.EVENT, now, delinquency_locator=delinquency,
              event_locator=locator, trigger_time=when)


def _event_job(tenant: str, delinquency: str, event: str, when: datetime, by: str) -> NewJob:
    return NewJob(EVENT, tenant, {"delinquencyEventLocator": event}, run_at=when,
                  reference_type="delinquency", reference_locator=delinquency, created_by=by)


def _job_data(conn: sa.Connection, job_locator: str, tenant: str, job_type: JobType,
              now: datetime, **values: Any) -> None:
    conn.execute(_NEW_JOB_DATA, {
        "job_locator": job_locator, "tenant": tenant, "job_type": job_type, "updated_at": now,
        **values})


def set_job_data(conn: sa.Connection, job_locator: str, **values: Any) -> None:
    """Set the columns `values` of a delinquency job's row."""
    conn.execute(_SET_JOB_DATA, {"job": job_locator, **values})


def set_jobs_data(conn: sa.Connection, job_locators: Sequence[str], **values: Any) -> None:
    """Set the columns `values` of several delinquency jobs' rows alike, in one statement."""
    if job_locators:
        conn.execute(_SET_JOBS_DATA, {"jobs": list(job_locators), **values})


def _set(conn: sa.Connection, delinquency_locator: str, **values: Any) -> None:
    conn.execute(_SET_DELINQUENCY, {"delinquency": delinquency_locator, **values})


def _set_event(conn: sa.Connection, event_locator: str, **values: Any) -> None:
    conn.execute(_SET_EVENT, {"event": event_locator, **values})
