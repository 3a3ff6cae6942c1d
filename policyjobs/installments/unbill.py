"""Unbilling: a cancellation or a reversal takes back what a policy's installments bill.

A **cancellation** effective at a time reverses all unearned premium: of every billing of
the policy whose cover runs past it, invoiced or not, the part of each item that pays for
cover after it (`lattice.share_after`: pro rata by time, half to even in the currency's
minor unit), less what earlier reversals of the item took back already. A **reversal**
reverses whatever its reversed transaction made that is not taken back yet, billings and
reversals alike, so reversing a cancellation bills again what it took back, credits
included, and reversing an issuance after a cancellation takes back only what is left.

Each installment that loses something gets one reversal installment, with the opposite
amounts of what it takes back, gathered in one reversal lattice; an installment may be
reversed more than once (a later cancellation effective earlier), and its
`reversed_by_locator` names the newest. What they then bill (`bills`):

- a reversal that leaves nothing of an installment no invoice has billed, nor any of its
  earlier reversals, cancels it: none of them bills;
- otherwise the reversal bills: taking back an invoiced installment, it credits the account
  on its next invoice (or a credit invoice), generated and due now; taking back part of one
  not yet invoiced, it is invoiced beside it, at its generate and due times (or now, if
  those have passed).

The job's work and its done mark commit together (`handler`), so a job run again after
a crash unbills nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import new_locator
from policyjobs.installments.lattice import Span, normalized_weights, share_after
from policyjobs.installments.models import installment_items, installment_lattices, installments
from policyjobs.installments.work import Done, Work, insert_installments
from policyjobs.money import currency_quantum
from policyjobs.store.scoping import in_tenant


@dataclass(frozen=True, slots=True)
class Taken:
    """What one reversal takes back of one installment: from when, and of each item how much
    (the items it takes nothing of are left out)."""

    row: Any  # the installment reversed
    start: datetime  # of the cover taken back: the installment's start, or the cancellation's
    items: tuple[tuple[Any, Decimal], ...]  # (item, amount taken back)
    leaves_some: bool  # whether any of the installment is left to take back after it
    earlier: tuple[Any, ...]  # the installment's reversals before this one

    @property
    def cancels(self) -> bool:
        """Whether it leaves nothing of an installment no invoice billed, nor of its earlier
        reversals (none of them reversed in turn): then none of them bills."""
        return (not self.leaves_some and self.row.bills and self.row.invoice_locator is None
                and all(r.bills and r.invoice_locator is None and r.reversed_by_locator is None
                        for r in self.earlier))


def unbill(work: Work) -> Done:
    """Reverse what the cancellation or reversal of the job's payload takes back."""
    payload, tenant = work.payload, work.row.tenant
    policy = payload["references"]["policy"]
    query = (in_tenant(installments, tenant)
             .where(installments.c.policy_locator == policy,
                    installments.c.invalidated_at.is_(None))
             .order_by(installments.c.installment_start, installments.c.locator)
             .with_for_update())
    effective = datetime.fromisoformat(payload["from"]) if "from" in payload else None
    if effective is not None:  # the billings that pay for cover after it
        query = query.where(installments.c.coverage_end > effective,
                            installments.c.depth % 2 == 0)
    else:
        query = query.where(installments.c.transaction_locator == payload["reversed"])
    rows = work.conn.execute(query).all()
    reversals = _reversals_of(work.conn, tenant, policy, [row.locator for row in rows])
    items = _items_of(work.conn, [row.locator for row in rows]
                      + [r.locator for found in reversals.values() for r in found])
    taken = [found for row in rows
             if (found := _taken(row, items, reversals.get(row.locator, []), effective)).items]
    if not taken:
        return Done(None, [])
    lattice = new_locator()
    frames = _reversal_frames(work.conn, taken)
    starts = [datetime.fromisoformat(frame["start"]) for frame in frames]
    references = payload["references"]
    common = {"tenant": tenant, "job_locator": work.row.job_locator, "quote_locator": None,
              "policy_locator": policy, "term_locator": references.get("term"),
              "transaction_locator": references["transaction"],
              "created_at": work.now, "created_by": work.by}
    first = taken[0].row
    work.conn.execute(installment_lattices.insert().values(
        locator=lattice, plan_name=None, term_start=starts[0],
        term_end=max(t.row.installment_end for t in taken),
        effective_time=effective or starts[0], reversal=True,
        based_on_locator=first.lattice_locator, frames=frames, currency=first.currency,
        timezone=first.timezone, account_locator=first.account_locator, **common))
    made = [_reversal(work, lattice, common, found, starts.index(found.start))
            for found in taken]
    insert_installments(work.conn, made)
    for (reversal, _), found in zip(made, taken, strict=True):
        _mark_reversed(work, found, reversal["locator"])
    return Done(lattice, [row["locator"] for row, _ in made])


def _mark_reversed(work: Work, found: Taken, reversal: str) -> None:
    """Name `reversal` the newest of `found`'s installment, and, where it cancels, stop its
    installment and earlier reversals billing."""
    changed = {"updated_at": work.now, "updated_by": work.by}
    work.conn.execute(installments.update()
                      .where(installments.c.locator == found.row.locator)
                      .values(reversed_by_locator=reversal,
                              bills=found.row.bills and not found.cancels, **changed))
    if found.cancels and found.earlier:
        work.conn.execute(installments.update()
                          .where(installments.c.locator.in_([r.locator for r in found.earlier]))
                          .values(bills=False, **changed))


def _taken(row: Any, items: dict[str, list[Any]], reversals: Sequence[Any],
           effective: datetime | None) -> Taken:
    """What reversing `row` takes back that its earlier `reversals` did not: all that is
    left of it, or, from a cancellation's `effective` time, what pays for its cover after
    then."""
    before: dict[str, Decimal] = {}  # of each item, what was taken back already
    for reversal in reversals:
        for item in items.get(reversal.locator, []):
            before[item.reversal_of_item_locator] = (
                before.get(item.reversal_of_item_locator, Decimal(0)) - item.amount)
    own = items.get(row.locator, [])
    left = {item.locator: item.amount - before.get(item.locator, Decimal(0)) for item in own}
    start = row.installment_start
    wanted = dict(left)
    if effective is not None and effective > row.coverage_start:
        quantum = currency_quantum(row.currency)
        coverage = Span(row.coverage_start, row.coverage_end)
        start = max(start, effective)
        wanted = {item.locator: share_after(item.amount, coverage, effective, quantum)
                  - before.get(item.locator, Decimal(0)) for item in own}
    # Only what is still there: a later cancellation's share may already be taken back.
    taken = {item.locator: wanted[item.locator] for item in own
             if wanted[item.locator] * item.amount > 0}
    return Taken(row, start, tuple((item, taken[item.locator]) for item in own
                                   if item.locator in taken),
                 leaves_some=any(left[item.locator] != taken.get(item.locator, 0)
                                 for item in own),
                 earlier=tuple(reversals))


def _reversals_of(conn: sa.Connection, tenant: str, policy: str,
                  locators: Sequence[str]) -> dict[str, list[Any]]:
    """The standing reversals of each of the policy's named installments."""
    found: dict[str, list[Any]] = {}
    if locators:
        for row in conn.execute(in_tenant(installments, tenant).where(
                installments.c.policy_locator == policy,
                installments.c.reversal_of_locator.in_(locators),
                installments.c.invalidated_at.is_(None))):
            found.setdefault(row.reversal_of_locator, []).append(row)
    return found


def _items_of(conn: sa.Connection, locators: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for item in conn.execute(sa.select(installment_items)
                             .where(installment_items.c.installment_locator.in_(locators))
                             .order_by(installment_items.c.locator)):
        found.setdefault(item.installment_locator, []).append(item)
    return found


def _reversal_frames(conn: sa.Connection, taken: Sequence[Taken]) -> list[dict[str, str]]:
    """The frames of what is taken back, once each: the reversed installments' frames, from
    the cancellation where it cuts one, weighted as in their own lattices (and by the part
    of the frame taken back)."""
    lattices = {r.locator: r.frames for r in conn.execute(
        sa.select(installment_lattices.c.locator, installment_lattices.c.frames)
        .where(installment_lattices.c.locator.in_({t.row.lattice_locator for t in taken})))}
    chosen: dict[datetime, tuple[dict[str, str], Fraction]] = {}
    for found in taken:
        if found.start in chosen:
            continue
        frame = dict(lattices[found.row.lattice_locator][found.row.frame_index])
        end, start = found.row.installment_end, found.row.installment_start
        part = Fraction((end - found.start) // _MICROSECOND, (end - start) // _MICROSECOND)
        frame["start"] = found.start.isoformat()
        chosen[found.start] = (frame, Fraction(Decimal(frame["weight"])) * part)
    frames = [chosen[start] for start in sorted(chosen)]
    weights = normalized_weights([weight for _, weight in frames])
    for (frame, _), weight in zip(frames, weights, strict=True):
        frame["weight"] = str(weight)
    return [frame for frame, _ in frames]


_MICROSECOND = datetime.resolution


def _reversal(work: Work, lattice_locator: str, common: dict[str, Any], found: Taken,
              frame_index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reversal installment of `found` and its items."""
    row = found.row
    times = {"generate_time": max(row.generate_time, work.now),  # beside it
             "due_time": max(row.due_time, work.now)}
    if row.invoice_locator is not None:  # a credit for the account's next invoice
        times = {"generate_time": work.now, "due_time": work.now}
    reversal = {**common, **times, "locator": new_locator(), "lattice_locator": lattice_locator,
                "frame_index": frame_index, "reversal_of_locator": row.locator,
                "depth": row.depth + 1, "bills": not found.cancels,
                "account_locator": row.account_locator, "currency": row.currency,
                "timezone": row.timezone,
                "term_locator": row.term_locator, "installment_start": found.start,
                "installment_end": row.installment_end,
                "coverage_start": max(row.coverage_start, found.start),
                "coverage_end": row.coverage_end,
                "updated_at": work.now, "updated_by": work.by}
    return reversal, [
        {"locator": new_locator(), "tenant": work.row.tenant,
         "installment_locator": reversal["locator"], "charge_locator": item.charge_locator,
         "charge_type": item.charge_type, "element_locator": item.element_locator,
         "amount": -amount, "reversal_of_item_locator": item.locator,
         "created_at": work.now, "created_by": work.by}
        for item, amount in found.items
    ]
