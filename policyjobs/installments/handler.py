"""The installments job: build a lattice and its installments, invalidate one, or unbill.

A job does its work and records that it is done in one transaction, holding its own
`installment_jobs` row, so a job run twice (its worker died after committing) finds
the work done and bills nothing twice. The jobs of one quote or one policy share an
ordered key, so the engine runs them one at a time, in the order their events came; a
worker runs jobs of different quotes and policies claimed together as one batch, in one
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import JobContext, PermanentJobError, new_locator
from policyjobs.installments.inputs import BillingInputs
from policyjobs.installments.lattice import (
    Installment,
    Lattice,
    Span,
    build_lattice,
    cover,
    split_portions,
)
from policyjobs.installments.models import (
    JobType,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.installments.unbill import unbill
from policyjobs.installments.work import Done, Made, Work, insert_installments
from policyjobs.store.job_data import required_data
from policyjobs.store.scoping import in_tenant
from policyjobs.store.writes import insert_all

# Statements of the hot paths, built once and bound per call.
_JOB_ROWS = (sa.select(installment_jobs)
             .where(installment_jobs.c.job_locator.in_(sa.bindparam("jobs", expanding=True)))
             .order_by(installment_jobs.c.job_locator).with_for_update())
# The columns to set are the parameters given besides `job`.
_JOB_DONE = installment_jobs.update().where(installment_jobs.c.job_locator == sa.bindparam("job"))


def run_installments_job(context: JobContext) -> dict[str, Any]:
    """Do the job once, whatever happens to its attempts; a job that cannot bill fails now."""
    return _together([context])[context.job.locator]


def run_installments_jobs(contexts: Sequence[JobContext]) -> list[dict[str, Any]]:
    """Several jobs (of other quotes and policies: one chain's jobs run one at a time): the
    createOrUpdate jobs in one transaction, their rows held in one statement and the
    lattices, installments and items they build written in one statement each; the
    others (which lock installments: two in one transaction could deadlock with an
    invoice) each in its own. One that cannot bill fails the batch (alone, it fails for
    good)."""
    creating = [c for c in contexts if c.job.payload.get("jobType") == JobType.CREATE_OR_UPDATE]
    results = _together(creating) if creating else {}
    for context in contexts:
        if context.job.locator not in results:
            results |= _together([context])
    return [results[context.job.locator] for context in contexts]


def _together(contexts: Sequence[JobContext]) -> dict[str, dict[str, Any]]:
    """Run `contexts`' jobs in one transaction; each one's result, by job locator."""
    first = contexts[0]
    try:
        with first.db.begin() as conn:
            held = {row.job_locator: row for row in conn.execute(
                _JOB_ROWS, {"jobs": sorted(c.job.locator for c in contexts)})}
            lattices: list[dict[str, Any]] = []
            made: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
            finished: list[dict[str, Any]] = []
            results = {}
            for context in contexts:
                job, now = context.job, context.clock.now()
                row = required_data(held.get(job.locator), installment_jobs, job.locator)
                if row.done_at is not None:
                    results[job.locator] = Done(row.lattice_locator, [
                        s for s in (row.installment_locators or "").split(",") if s]).as_json()
                    continue
                work = Work(conn, row, job.payload, now)
                if row.job_type == JobType.CREATE_OR_UPDATE:
                    lattice, installments_made = _planned(work)
                    lattices.append(lattice)
                    made += installments_made
                    done = Done(lattice["locator"], [r["locator"] for r, _ in installments_made])
                else:
                    done = _WORK[JobType(row.job_type)](work)
                finished.append({"job": job.locator, "done_at": now,
                                 "lattice_locator": done.lattice_locator,
                                 "installment_locators": ",".join(done.installment_locators)})
                results[job.locator] = done.as_json()
            insert_all(conn, installment_lattices, lattices)
            insert_installments(conn, made)
            if finished:
                conn.execute(_JOB_DONE, finished)
    except ValueError as error:
        raise PermanentJobError(str(error)) from error
    return results


def _planned(work: Work) -> tuple[dict[str, Any], Made]:
    """The lattice's row, and its installments' rows with their items': every charge split
    over the lattice's frames.

    A change or reinstatement is billed on the lattice of the term it changes, so its
    billing dates are the term's: the lattice spans that term and its frames are cut at
    the transaction's segments, whose charges land only on the frames within them.
    """
    inputs = BillingInputs.from_json(work.payload["inputs"])
    references: dict[str, str | None] = work.payload["references"]
    term, base = inputs.span, None
    if work.payload.get("transactionType") in ("change", "reinstatement"):
        base = _term_lattice(work, references, inputs.span)
    if base is not None:
        term = Span(min(base.term_start, term.start), max(base.term_end, term.end))
    spans = cover(term, [portion.span for _, portion in inputs.portions])
    lattice = build_lattice(term, inputs.plan.as_plan(), inputs.timezone,
                            spans if len(spans) > 1 else ())
    billed = split_portions(lattice, [portion for _, portion in inputs.portions], inputs.quantum)
    element_of = {charge.locator: element
                  for element, portion in inputs.portions for charge in portion.charges}
    locator = work.row.lattice_locator
    common = {"tenant": work.row.tenant, "job_locator": work.row.job_locator,
              "account_locator": inputs.account_locator, "currency": inputs.currency,
              "timezone": inputs.timezone, "quote_locator": references.get("quote"),
              "policy_locator": references.get("policy"),
              "term_locator": references.get("term"),
              "transaction_locator": references.get("transaction"),
              "created_at": work.now, "created_by": work.by}
    row = {"locator": locator, "plan_name": inputs.plan_name, "term_start": term.start,
           "term_end": term.end, "effective_time": inputs.span.start, "reversal": False,
           "based_on_locator": None if base is None else base.locator,
           "frames": _frames_json(lattice), **common}
    return row, [_installment_rows(work, locator, common, installment, element_of)
                 for installment in billed]


def _term_lattice(work: Work, references: dict[str, str | None], span: Span) -> Any:
    """The policy's newest billing lattice of the term that `span` changes, if any."""
    rows = work.conn.execute(
        in_tenant(installment_lattices, work.row.tenant)
        .where(installment_lattices.c.policy_locator == references["policy"],
               installment_lattices.c.reversal.is_(False),
               installment_lattices.c.invalidated_at.is_(None))
        .order_by(installment_lattices.c.locator.desc())
    ).all()
    term = references.get("term")
    for row in rows:
        same_term = term is None or row.term_locator in (None, term)
        if same_term and row.term_start < span.end and span.start < row.term_end:
            return row
    return None


def _frames_json(lattice: Lattice) -> list[dict[str, str]]:
    return [{"start": f.coverage_start.isoformat(), "end": f.coverage_end.isoformat(),
             "generate": f.generate_time.isoformat(), "due": f.due_time.isoformat(),
             "weight": str(f.normalized_weight)} for f in lattice.frames]


def _installment_rows(work: Work, lattice_locator: str, common: dict[str, Any],
                      installment: Installment,
                      element_of: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    frame = installment.frame
    row = {**common, "locator": new_locator(), "lattice_locator": lattice_locator,
           "frame_index": frame.index, "depth": 0, "installment_start": frame.installment_start,
           "installment_end": frame.installment_end, "coverage_start": frame.coverage_start,
           "coverage_end": frame.coverage_end, "generate_time": frame.generate_time,
           "due_time": frame.due_time, "updated_at": work.now, "updated_by": work.by,
           "bills": common["policy_locator"] is not None}  # a quote's show, never bill
    items = [{"locator": new_locator(), "tenant": work.row.tenant,
              "installment_locator": row["locator"], "charge_locator": item.charge_locator,
              "charge_type": item.charge_type, "element_locator": element_of[item.charge_locator],
              "amount": item.amount, "created_at": work.now, "created_by": work.by}
             for item in installment.items]
    return row, items


def _invalidate(work: Work) -> Done:
    """Retire a re-priced quote's previous lattice and its installments not yet invoiced."""
    locator = work.row.lattice_locator
    work.conn.execute(installment_lattices.update()
                      .where(installment_lattices.c.locator == locator,
                             installment_lattices.c.invalidated_at.is_(None))
                      .values(invalidated_at=work.now))
    retired = work.conn.execute(
        installments.update()
        .where(installments.c.lattice_locator == locator,
               installments.c.invalidated_at.is_(None), installments.c.invoice_locator.is_(None))
        .values(invalidated_at=work.now, updated_at=work.now, updated_by=work.by)
        .returning(installments.c.locator)
    ).scalars().all()
    return Done(locator, sorted(retired))


# What each job type but createOrUpdate (which `run_installments_jobs` writes) does.
_WORK: dict[JobType, Callable[[Work], Done]] = {
    JobType.INVALIDATE: _invalidate,
    JobType.UNBILL: unbill,
}
