"""The installments job: build a lattice and its installments, invalidate one, or unbill.

A job does its work and records that it is done in one transaction, holding its own
`installment_jobs` row, so a job run twice (its worker died after committing) finds
the work done and bills nothing twice. The jobs of one quote or one policy share an
ordered key, so the engine runs them one at a time, in the order their events came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
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
    normalized_weights,
    split_portions,
)
from policyjobs.installments.models import (
    JobType,
    installment_items,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.store.reads import in_tenant, required_data
from policyjobs.store.writes import insert_all


@dataclass(frozen=True, slots=True)
class Done:
    """What a job left: the lattice it built or acted on, and the installments it touched."""

    lattice_locator: str | None
    installment_locators: Sequence[str]

    def as_json(self) -> dict[str, Any]:
        """The job's result."""
        return {"latticeLocator": self.lattice_locator,
                "installmentLocators": list(self.installment_locators)}


@dataclass(frozen=True, slots=True)
class Work:
    """One job's transaction: its connection, its row and payload, and the business time."""

    conn: sa.Connection
    row: Any
    payload: dict[str, Any]
    now: datetime

    @property
    def by(self) -> str:
        """Who the job acts for: the caller whose event made it."""
        return str(self.payload["createdBy"])


# Statements of the hot paths, built once and bound per call.
_JOB_ROW = (sa.select(installment_jobs)
            .where(installment_jobs.c.job_locator == sa.bindparam("job")).with_for_update())
# The columns to set are the parameters given besides `job`.
_JOB_DONE = installment_jobs.update().where(installment_jobs.c.job_locator == sa.bindparam("job"))
_NEW_LATTICE = installment_lattices.insert()


def run_installments_job(context: JobContext) -> dict[str, Any]:
    """Do the job once, whatever happens to its attempts; a job that cannot bill fails now."""
    job = context.job
    try:
        with context.db.begin() as conn:
            row = required_data(conn.execute(_JOB_ROW, {"job": job.locator}).first(),
                                installment_jobs, job.locator)
            if row.done_at is None:
                done = _WORK[JobType(row.job_type)](
                    Work(conn, row, job.payload, context.clock.now()))
                conn.execute(_JOB_DONE, {
                    "job": job.locator, "done_at": context.clock.now(),
                    "lattice_locator": done.lattice_locator,
                    "installment_locators": ",".join(done.installment_locators)})
            else:
                done = Done(row.lattice_locator,
                            [s for s in (row.installment_locators or "").split(",") if s])
    except ValueError as error:
        raise PermanentJobError(str(error)) from error
    return done.as_json()


def _create_or_update(work: Work) -> Done:
    """Build the lattice and split every charge into installments over its frames.

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
    work.conn.execute(_NEW_LATTICE, {
        "locator": locator, "plan_name": inputs.plan_name, "term_start": term.start,
        "term_end": term.end, "effective_time": inputs.span.start, "reversal": False,
        "based_on_locator": None if base is None else base.locator,
        "frames": _frames_json(lattice), **common})
    made = [_installment_rows(work, locator, common, installment, element_of)
            for installment in billed]
    _insert(work.conn, made)
    return Done(locator, [row["locator"] for row, _ in made])


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
           "due_time": frame.due_time, "updated_at": work.now, "updated_by": work.by}
    items = [{"locator": new_locator(), "tenant": work.row.tenant,
              "installment_locator": row["locator"], "charge_locator": item.charge_locator,
              "charge_type": item.charge_type, "element_locator": element_of[item.charge_locator],
              "amount": item.amount, "created_at": work.now, "created_by": work.by}
             for item in installment.items]
    return row, items


def _insert(conn: sa.Connection,
            made: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    if made:
        insert_all(conn, installments, [row for row, _ in made])
        insert_all(conn, installment_items, [item for _, items in made for item in items])


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


def _unbill(work: Work) -> Done:
    """Reverse the policy's installments not yet invoiced, in one reversal lattice.

    A cancellation reverses the billings (not the credits of earlier reversals) starting
    at or after its effective time; a reversal whatever its reversed transaction made,
    so reversing a cancellation bills again what the cancellation had credited. An
    installment is reversed at most once, by an installment of the opposite amounts that
    names it in `reversalOfInstallmentLocator`.
    """
    payload, tenant = work.payload, work.row.tenant
    query = (in_tenant(installments, tenant)
             .where(installments.c.policy_locator == payload["references"]["policy"],
                    installments.c.invoice_locator.is_(None),
                    installments.c.invalidated_at.is_(None),
                    installments.c.reversed_by_locator.is_(None))
             .order_by(installments.c.installment_start, installments.c.locator)
             .with_for_update())
    if "from" in payload:  # what still bills: not a reversal's credit
        query = query.where(installments.c.installment_start
                            >= datetime.fromisoformat(payload["from"]),
                            installments.c.depth % 2 == 0)
    else:
        query = query.where(installments.c.transaction_locator == payload["reversed"])
    reversed_rows = work.conn.execute(query).all()
    if not reversed_rows:
        return Done(None, [])
    lattice = new_locator()
    frames = _reversal_frames(work.conn, reversed_rows)
    starts = [datetime.fromisoformat(frame["start"]) for frame in frames]
    first = reversed_rows[0]
    term = Span(starts[0], max(row.installment_end for row in reversed_rows))
    references = payload["references"]
    common = {"tenant": tenant, "job_locator": work.row.job_locator,
              "account_locator": payload["accountLocator"], "currency": first.currency,
              "timezone": first.timezone, "quote_locator": None,
              "policy_locator": references["policy"], "term_locator": references.get("term"),
              "transaction_locator": references["transaction"],
              "created_at": work.now, "created_by": work.by}
    effective = datetime.fromisoformat(payload["from"]) if "from" in payload else term.start
    work.conn.execute(installment_lattices.insert().values(
        locator=lattice, plan_name=None, term_start=term.start, term_end=term.end,
        effective_time=effective, reversal=True, based_on_locator=first.lattice_locator,
        frames=frames, **common))
    items = _items_of(work.conn, [row.locator for row in reversed_rows])
    made = [_reversal_rows(work, lattice, common, row, starts.index(row.installment_start),
                           items.get(row.locator, []))
            for row in reversed_rows]
    _insert(work.conn, made)
    for (reversal, _), row in zip(made, reversed_rows, strict=True):
        work.conn.execute(installments.update().where(installments.c.locator == row.locator)
                          .values(reversed_by_locator=reversal["locator"], updated_at=work.now,
                                  updated_by=work.by))
    return Done(lattice, [row["locator"] for row, _ in made])


def _reversal_frames(conn: sa.Connection, rows: Sequence[Any]) -> list[dict[str, str]]:
    """The frames of the reversed installments, once each, weighted as in their own lattices."""
    lattices = {r.locator: r.frames for r in conn.execute(
        sa.select(installment_lattices.c.locator, installment_lattices.c.frames)
        .where(installment_lattices.c.locator.in_({row.lattice_locator for row in rows})))}
    chosen: dict[datetime, dict[str, str]] = {}
    for row in rows:
        if row.installment_start not in chosen:
            chosen[row.installment_start] = dict(lattices[row.lattice_locator][row.frame_index])
    frames = [chosen[start] for start in sorted(chosen)]
    weights = normalized_weights([Fraction(Decimal(frame["weight"])) for frame in frames])
    for frame, weight in zip(frames, weights, strict=True):
        frame["weight"] = str(weight)
    return frames


def _items_of(conn: sa.Connection, locators: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for item in conn.execute(sa.select(installment_items)
                             .where(installment_items.c.installment_locator.in_(locators))
                             .order_by(installment_items.c.locator)):
        found.setdefault(item.installment_locator, []).append(item)
    return found


def _reversal_rows(work: Work, lattice_locator: str, common: dict[str, Any], row: Any,
                   frame_index: int,
                   items: Sequence[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    reversal = {**common, "locator": new_locator(), "lattice_locator": lattice_locator,
                "frame_index": frame_index, "reversal_of_locator": row.locator,
                "depth": row.depth + 1,
                "updated_at": work.now, "updated_by": work.by,
                **{name: getattr(row, name) for name in (
                    "currency", "timezone", "term_locator", "installment_start",
                    "installment_end", "coverage_start", "coverage_end", "generate_time",
                    "due_time")}}
    return reversal, [
        {"locator": new_locator(), "tenant": work.row.tenant,
         "installment_locator": reversal["locator"], "charge_locator": item.charge_locator,
         "charge_type": item.charge_type, "element_locator": item.element_locator,
         "amount": -item.amount, "reversal_of_item_locator": item.locator,
         "created_at": work.now, "created_by": work.by}
        for item in items
    ]


_WORK: dict[JobType, Callable[[Work], Done]] = {
    JobType.CREATE_OR_UPDATE: _create_or_update,
    JobType.INVALIDATE: _invalidate,
    JobType.UNBILL: _unbill,
}
