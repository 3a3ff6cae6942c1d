"""Documents jobs from intake events, their timeouts, and retriggering them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
import structlog

from policyjobs.documents import queries
from policyjobs.documents.config import DocumentDefinition, DocumentScope, DocumentsSection
from policyjobs.documents.models import KIND, documents, documents_jobs
from policyjobs.documents.states import DocumentState
from policyjobs.documents.storage import Storage
from policyjobs.domain import Intake, JobRef
from policyjobs.engine import ACTIVE_STATUSES, JobQueue, JobStatus, Lane, NewJob, new_locator
from policyjobs.engine.actions import outcome
from policyjobs.engine.registry import Verdicts
from policyjobs.engine.view import JOBS as jobs
from policyjobs.engine.view import held_now, processing_errors, unheld_now
from policyjobs.exceptions import Conflict, NotFound
from policyjobs.intake.events import QuoteEvent, TransactionEvent, Trigger
from policyjobs.tenants.service import get_tenant

log = structlog.get_logger("policyjobs.documents")
TRANSACTION_SCOPES = (DocumentScope.TRANSACTION, DocumentScope.POLICY, DocumentScope.TERM)


@dataclass(frozen=True, slots=True)
class Planned:
    """One documents job to create: its reference, context and definitions."""

    reference_type: str
    reference_locator: str
    definitions: Sequence[DocumentDefinition]
    context: dict[str, Any]
    locators: dict[str, str | None]
    parent_locator: str | None = None
    locator: str = field(default_factory=new_locator)


def on_quote(intake: Intake, event: QuoteEvent) -> list[JobRef]:
    """A quote event's documents job, when the tenant defines quote documents for its trigger."""
    chosen = _definitions(intake, event.trigger, (DocumentScope.QUOTE,))
    if not chosen:
        return []
    plan = Planned("quote", event.locator, chosen, {"event": event.model_dump(mode="json")},
                   {})
    return _create(intake, event.trigger, [plan])


def on_transaction(intake: Intake, event: TransactionEvent) -> list[JobRef]:
    """A transaction's documents job, with one child job per segment for segment documents."""
    own = _definitions(intake, event.trigger, TRANSACTION_SCOPES)
    per_segment = _definitions(intake, event.trigger, (DocumentScope.SEGMENT,))
    if not own and not (per_segment and event.segments):
        return []
    received = event.model_dump(mode="json")
    locators = {"transaction": event.locator, "policy": event.policyLocator,
                "term": event.termLocator}
    parent = Planned("transaction", event.locator, own, {"event": received}, locators)
    plans = [parent]
    if per_segment:
        for segment, data in zip(event.segments, received["segments"], strict=True):
            plans.append(Planned("segment", segment.locator, per_segment,
                                 {"event": received, "segment": data},
                                 {**locators, "segment": segment.locator}, parent.locator))
    return _create(intake, event.trigger, plans)


class NewInvoice(Protocol):
    """A new invoice, as invoicing tells its listeners of it."""

    @property
    def tenant(self) -> str: ...
    @property
    def created_by(self) -> str: ...
    @property
    def context(self) -> Mapping[str, Any]: ...


def on_invoices_made(conn: sa.Connection, queue: JobQueue,
                     made: Sequence[NewInvoice]) -> None:
    """The documents job of each new invoice, when its tenant defines invoice documents
    for the `generated` trigger; their templates see `invoice`, with its items.
    Invoicing's listener, which the composition root wires."""
    for invoice in made:
        intake = Intake(conn, queue, invoice.tenant, get_tenant(conn, invoice.tenant).config,
                        invoice.created_by)
        chosen = _definitions(intake, Trigger.GENERATED, (DocumentScope.INVOICE,))
        if chosen:
            render_for_invoice(intake, invoice.context, chosen)


def render_for_invoice(made: Intake, invoice: Mapping[str, Any],
                       definitions: Sequence[DocumentDefinition],
                       **context: Any) -> JobRef:
    """A documents job for an invoice (its `generated` documents, or a notice another
    domain defines), whose templates see `invoice` and the rest of `context`."""
    plan = Planned("invoice", str(invoice["locator"]), definitions,
                   {"invoice": dict(invoice), **context}, {})
    return _create(made, Trigger.GENERATED, [plan])[0]


def _definitions(intake: Intake, trigger: str,
                 scopes: Sequence[DocumentScope]) -> list[DocumentDefinition]:
    return [d for d in intake.config.section(DocumentsSection).documents.definitions
            if d.trigger == trigger and d.scope in scopes]


def _create(intake: Intake, trigger: str, plans: list[Planned]) -> list[JobRef]:
    timeout = intake.config.section(DocumentsSection).documents.timeout_seconds
    now = intake.queue.clock.now()
    new_jobs = [
        NewJob(KIND, intake.tenant, {"context": plan.context}, reference_type=plan.reference_type,
               reference_locator=plan.reference_locator, parent_locator=plan.parent_locator,
               created_by=intake.created_by, locator=plan.locator,
               lane=Lane.BATCH if plan.reference_type == "invoice" else None)
        for plan in plans
    ]
    locators = intake.queue.enqueue(intake.conn, new_jobs)
    intake.conn.execute(documents_jobs.insert(), [
        {"job_locator": locator, "tenant": intake.tenant, "trigger": trigger,
         "timeout_seconds": timeout}
        for locator in locators
    ])
    rows = [
        _document_row(intake, locator, plan, definition, now)
        for locator, plan in zip(locators, plans, strict=True)
        for definition in plan.definitions
    ]
    if rows:
        intake.conn.execute(documents.insert(), rows)
    return [JobRef(KIND, locators[0])]


def _document_row(intake: Intake, job_locator: str, plan: Planned,
                  definition: DocumentDefinition, now: datetime) -> dict[str, Any]:
    scope = definition.scope
    reference_locator = plan.locators.get(scope) or plan.reference_locator
    return {
        "locator": new_locator(), "tenant": intake.tenant, "job_locator": job_locator,
        "reference_type": scope if scope in ("policy", "term") and plan.locators.get(scope)
        else plan.reference_type,
        "reference_locator": reference_locator,
        "static_name": definition.static_name, "name": definition.name, "scope": scope,
        "format": definition.format, "template": definition.template,
        "state": DocumentState.DRAFT,
        "created_at": now, "created_by": intake.created_by,
        "transaction_locator": plan.locators.get("transaction"),
        "segment_locator": plan.locators.get("segment"),
        "policy_locator": plan.locators.get("policy"),
        "term_locator": plan.locators.get("term"),
    }


def retrigger_timed_out(conn: sa.Connection, queue: JobQueue, *, tenant: str,
                        reference_type: str, reference_locator: str) -> list[str]:
    """Re-run this reference's timed-out documents jobs; the locators re-run.

    Only jobs no live worker holds are taken. A job whose worker is still stopping
    its render is postponed within moments, and then a retrigger takes it.
    """
    candidates = conn.execute(
        sa.select(documents_jobs.c.job_locator)
        .join(jobs, jobs.c.locator == documents_jobs.c.job_locator)
        .where(jobs.c.tenant == tenant, jobs.c.reference_type == reference_type,
               jobs.c.reference_locator == reference_locator, jobs.c.kind == KIND,
               unheld_now(),
               documents_jobs.c.timed_out_at.is_not(None))
        .order_by(documents_jobs.c.job_locator)
    ).scalars().all()
    return _rerun(conn, queue, tenant, list(candidates), require_timed_out=True)


def retrigger_job(conn: sa.Connection, queue: JobQueue, *, tenant: str, reference_type: str,
                  reference_locator: str, job_locator: str) -> None:
    """Re-run one failed or timed-out documents job of a reference, or `Conflict` saying why
    it cannot be (`NotFound` outside the tenant and reference)."""
    row = queries.job_row(conn, tenant=tenant, reference_type=reference_type,
                          reference_locator=reference_locator, job_locator=job_locator)
    stuck = row.status in ACTIVE_STATUSES and queries.timed_out(conn, job_locator)
    if row.status != JobStatus.FAILED and not stuck:
        raise Conflict(f"documents job {job_locator} is neither failed nor timed out; "
                       "there is nothing to re-run")
    if conn.execute(sa.select(held_now()).where(jobs.c.locator == job_locator)).scalar():
        raise Conflict(f"documents job {job_locator} timed out and its worker is "
                       "stopping it; trigger it again in a moment")
    _rerun(conn, queue, tenant, [job_locator], require_timed_out=row.status != JobStatus.FAILED)


def retry_jobs(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's retry: each failed job, and each timed-out one no worker holds, runs
    again as a retrigger runs it (fresh rendering attempts, the tenant's timeout now)."""
    verdicts: Verdicts = {
        row.locator: f"neither failed nor timed out: {row.status}" for row in rows}
    for tenant in sorted({row.tenant for row in rows}):
        mine = [row for row in rows if row.tenant == tenant]
        failed = [row.locator for row in mine if row.status == JobStatus.FAILED]
        stuck = conn.execute(
            sa.select(documents_jobs.c.job_locator)
            .join(jobs, jobs.c.locator == documents_jobs.c.job_locator)
            .where(documents_jobs.c.job_locator.in_(
                       [row.locator for row in mine if row.status == JobStatus.QUEUED]),
                   documents_jobs.c.timed_out_at.is_not(None), unheld_now())
        ).scalars().all()
        verdicts.update(outcome(failed, _rerun(conn, queue, tenant, failed,
                                               require_timed_out=False)))
        verdicts.update(outcome(stuck, _rerun(conn, queue, tenant, list(stuck),
                                              require_timed_out=True)))
    return verdicts


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A rendered document's file: its bytes, content type and file name."""

    content: bytes
    content_type: str
    name: str


def stored_file(row: Any) -> tuple[str, str]:
    """The storage key and file name of a document row, or `Conflict` until the document
    is ready."""
    if row.state != DocumentState.READY or row.storage_key is None:
        raise Conflict(f"document {row.locator} is not ready: its state is {row.state}")
    return row.storage_key, row.storage_key.rsplit("/", 1)[-1]


def missing_file(row: Any) -> NotFound:
    """What a ready document whose file is not in the storage (a store moved without its
    files, say) answers, logged."""
    log.warning("a ready document's file is missing", document=row.locator,
                key=row.storage_key)
    return NotFound(f"the file of document {row.locator} is missing from the document "
                    "storage")


def document_file(storage: Storage, row: Any) -> StoredFile:
    """The file of a document row, or `Conflict` until the document is ready, or `NotFound`
    when the storage no longer has it, or `FilesUnavailable` while the storage is away."""
    key, name = stored_file(row)
    try:
        content = storage.get(key)
    except FileNotFoundError:
        raise missing_file(row) from None
    return StoredFile(content, row.content_type, name)


def job_problems(row: Any) -> str | None:
    """A documents job's `processingErrors`: each failed attempt's error and, while it
    waits for a retrigger, that it timed out."""
    problems = [p for p in (processing_errors(row.errors),) if p]
    if row.timed_out_at is not None and row.status in ACTIVE_STATUSES:
        problems.append(f"timed out: rendering overran the deadline of {row.timeout_seconds} s, "
                        "or its workers kept dying mid-render; POST …/trigger re-runs it")
    return "\n".join(problems) or None


def _rerun(conn: sa.Connection, queue: JobQueue, tenant: str, locators: list[str], *,
           require_timed_out: bool) -> list[str]:
    """Give each job the tenant's current timeout, fresh rendering attempts and its current
    definitions of the documents still to render (`_redefine`), and requeue it.

    The reset is a conditional update, so of two retriggers at once only one wins a job.
    """
    if not locators:
        return []
    config = get_tenant(conn, tenant).config.section(DocumentsSection).documents
    query = documents_jobs.update().where(documents_jobs.c.job_locator.in_(locators))
    if require_timed_out:
        query = query.where(documents_jobs.c.timed_out_at.is_not(None))
    won = list(conn.execute(
        query.values(timed_out_at=None, render_attempts=0, timeout_seconds=config.timeout_seconds)
        .returning(documents_jobs.c.job_locator)
    ).scalars().all())
    if won:
        _redefine(conn, won, config.definitions)
    return queue.requeue(conn, won, lane=Lane.INTERACTIVE)  # someone asked


_REDEFINE = documents.update().where(documents.c.locator == sa.bindparam("document")).values(
    template=sa.bindparam("new_template"), name=sa.bindparam("new_name"),
    format=sa.bindparam("new_format"))


def _redefine(conn: sa.Connection, job_locators: list[str],
              definitions: Sequence[DocumentDefinition]) -> None:
    """The documents of these jobs that are not ready take the tenant's definition of their
    static name and scope as it is now (template, name and format): a template fixed after
    it failed renders fixed when its job runs again. A document whose definition is gone
    keeps its own; a ready one is kept as it was rendered."""
    current = {(d.static_name, d.scope): d for d in definitions}
    rows = conn.execute(
        sa.select(documents.c.locator, documents.c.static_name, documents.c.scope,
                  documents.c.template, documents.c.name, documents.c.format)
        .where(documents.c.job_locator.in_(job_locators),
               documents.c.state != DocumentState.READY)).all()
    changes = [{"document": row.locator, "new_template": found.template,
                "new_name": found.name, "new_format": found.format}
               for row in rows
               if (found := current.get((row.static_name, row.scope))) is not None
               and (found.template, found.name, found.format)
               != (row.template, row.name, row.format)]
    if changes:
        conn.execute(_REDEFINE, changes)
