"""The books of a billing year (`bench/run year`, `bench/run crash`): what is wrong with them,
as counts that should all be 0."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import sqlalchemy as sa

from bench.common import say

CHECKS = {
    "policy installments due and not invoiced": """
        SELECT count(*) FROM installments i
        WHERE i.tenant = :t AND i.bills AND i.generate_time <= :now
          AND i.invoice_locator IS NULL""",
    "installments on two invoices": """
        SELECT count(*) FROM (SELECT installment_locator FROM invoice_items
                              WHERE tenant = :t GROUP BY installment_locator
                              HAVING count(DISTINCT invoice_locator) > 1) AS twice""",
    "invoices whose total is not their items' sum": """
        SELECT count(*) FROM (SELECT v.locator FROM invoices v
                              LEFT JOIN invoice_items it ON it.invoice_locator = v.locator
                              WHERE v.tenant = :t GROUP BY v.locator, v.total
                              HAVING coalesce(sum(it.amount::numeric), 0)
                                     <> v.total::numeric) AS off""",
    "invoices unpaid past due and not delinquent": """
        SELECT count(*) FROM invoices v
        LEFT JOIN delinquencies d ON d.invoice_locator = v.locator
        WHERE v.tenant = :t AND v.state = 'open' AND v.total::numeric > 0
          AND v.due_time < :now AND d.locator IS NULL""",
    # An invoice that bills a reversal (a cancellation's credit, or a reinstatement's taking
    # it back) may span the period of another: a cancelled policy's credit beside the next
    # frame of the account's other policy, then its reinstatement beside its own next frame.
    "invoices made twice for one account and period": """
        SELECT count(*) FROM (SELECT account_locator FROM invoices v
                              WHERE tenant = :t AND total::numeric > 0
                                AND NOT EXISTS (
                                    SELECT FROM invoice_items it JOIN installments i
                                      ON i.locator = it.installment_locator
                                    WHERE it.invoice_locator = v.locator
                                      AND i.reversal_of_locator IS NOT NULL)
                              GROUP BY account_locator, currency, start_time, end_time
                              HAVING count(*) > 1) AS twice""",
    "delinquencies opened twice for one invoice": """
        SELECT count(*) FROM (SELECT invoice_locator FROM delinquencies WHERE tenant = :t
                              GROUP BY invoice_locator HAVING count(*) > 1) AS twice""",
    "documents made twice for one reference": """
        SELECT count(*) FROM (SELECT reference_locator FROM documents WHERE tenant = :t
                              GROUP BY reference_locator, static_name
                              HAVING count(*) > 1) AS twice""",
    "jobs failed": "SELECT count(*) FROM jobs WHERE tenant = :t AND status = 'failed'",
    "jobs left due": """
        SELECT count(*) FROM job_queue q JOIN jobs j ON j.id = q.id
        WHERE j.tenant = :t AND q.run_at <= :now""",
}


def books(db: sa.Engine, tenant: str, now: datetime, cancellations: Mapping[str, datetime],
          premiums: Mapping[str, Decimal]) -> dict[str, int]:
    """What is wrong with the books at `now`, `cancellations` being the effective time of
    each policy cancelled for good and `premiums` the premium of each policy reinstated:
    each count should be 0."""
    with db.connect() as conn:
        wrong = {name: int(conn.execute(sa.text(query), {"t": tenant, "now": now}).scalar() or 0)
                 for name, query in CHECKS.items()}
        wrong["policies billed for cover after their cancellation"] = billed_after_cancellation(
            conn, tenant, cancellations)
        wrong["reinstated policies billed other than their premium"] = billed_otherwise(
            conn, tenant, premiums)
        wrong["accounts whose payments are not what was settled plus their credit"] = (
            payments_off(conn, tenant))
        if wrong["invoices made twice for one account and period"]:
            name_twice_made(conn, tenant)
    return wrong


def name_twice_made(conn: sa.Connection, tenant: str) -> None:
    """Say, on stderr, each invoice of an account and period that has another, with the job
    that made it and what it bills (reversals marked)."""
    rows = conn.execute(sa.text("""
        SELECT v.account_locator, v.start_time, v.end_time, v.locator, v.invoicing_type,
               v.job_locator, j.parent_locator, v.generated_time, v.total,
               string_agg(it.policy_locator || ' ' || i.installment_start::text || '..'
                          || i.installment_end::text || ' ' || it.amount
                          || CASE WHEN i.reversal_of_locator IS NULL THEN ''
                                  ELSE ' (a reversal)' END, '; ')
        FROM invoices v JOIN jobs j ON j.locator = v.job_locator
        JOIN invoice_items it ON it.invoice_locator = v.locator
        JOIN installments i ON i.locator = it.installment_locator
        WHERE v.tenant = :t AND v.total::numeric > 0
          AND (v.account_locator, v.currency, v.start_time, v.end_time) IN (
              SELECT account_locator, currency, start_time, end_time FROM invoices
              WHERE tenant = :t AND total::numeric > 0
              GROUP BY 1, 2, 3, 4 HAVING count(*) > 1)
        GROUP BY v.locator, j.parent_locator ORDER BY 1, 2, v.created_at"""), {"t": tenant})
    for row in rows:
        say("made twice: " + " | ".join(str(value) for value in row))


def billed_after_cancellation(conn: sa.Connection, tenant: str,
                              cancellations: Mapping[str, datetime]) -> int:
    """Cancelled policies whose invoices bill cover after the cancellation: each invoiced
    item counts the share of its installment's coverage that lies after it, and a policy's
    shares must sum to nothing but the rounding of the frame the cancellation cut: at most
    half a minor unit, which an exact tie reaches (the share taken back is rounded half to
    even, `lattice.share_after`: 86.825 is taken back as 86.82)."""
    if not cancellations:
        return 0
    rows = conn.execute(sa.text(
        "SELECT i.policy_locator, i.coverage_start, i.coverage_end, it.amount "
        "FROM invoice_items it JOIN installments i ON i.locator = it.installment_locator "
        "WHERE it.tenant = :t AND i.policy_locator IN :policies"
    ).bindparams(sa.bindparam("policies", expanding=True)),
        {"t": tenant, "policies": list(cancellations)})
    after: defaultdict[str, Fraction] = defaultdict(Fraction)
    items: defaultdict[str, list[str]] = defaultdict(list)
    for policy, start, end, amount in rows:
        effective = cancellations[policy]
        if end > effective:
            covered = end - max(start, effective)
            after[policy] += Fraction(Decimal(amount)) * Fraction(
                covered // _MICROSECOND, (end - start) // _MICROSECOND)
            items[policy].append(f"{start.isoformat()} to {end.isoformat()}: {amount}")
    wrong = {policy: billed for policy, billed in after.items()
             if abs(billed) > Fraction(1, 200)}
    for policy, billed in sorted(wrong.items()):  # what to look at, on stderr
        say(f"{policy}, cancelled from {cancellations[policy].isoformat()}, is billed "
            f"{float(billed):.4f} of cover after it, by the items over it: "
            + "; ".join(items[policy]))
    return len(wrong)


_MICROSECOND = datetime.resolution


def billed_otherwise(conn: sa.Connection, tenant: str, premiums: Mapping[str, Decimal]) -> int:
    """Policies whose invoices, all made by now, do not bill exactly their `premiums`: what a
    cancellation took back and its reversal billed again must net to nothing."""
    if not premiums:
        return 0
    billed: dict[str, Decimal] = dict(conn.execute(sa.text(
        "SELECT i.policy_locator, sum(it.amount::numeric) "
        "FROM invoice_items it JOIN installments i ON i.locator = it.installment_locator "
        "WHERE it.tenant = :t AND i.policy_locator IN :policies GROUP BY 1"
    ).bindparams(sa.bindparam("policies", expanding=True)),
        {"t": tenant, "policies": list(premiums)}).all())
    return len([policy for policy, premium in premiums.items() if billed.get(policy) != premium])


def payments_off(conn: sa.Connection, tenant: str) -> int:
    """Accounts (and currencies) whose money does not add up: the payments they made and what
    credit invoices owe them must be what settled their invoices plus their credit."""
    queries = {
        "paid in": """SELECT v.account_locator, v.currency, sum(p.amount::numeric)
                      FROM invoice_payments p JOIN invoices v ON v.locator = p.invoice_locator
                      WHERE p.tenant = :t AND p.source = 'payment' GROUP BY 1, 2""",
        "credited": """SELECT account_locator, currency, sum(-total::numeric) FROM invoices
                       WHERE tenant = :t AND total::numeric < 0 GROUP BY 1, 2""",
        "settled": """SELECT account_locator, currency, sum(paid::numeric) FROM invoices
                      WHERE tenant = :t AND total::numeric > 0 GROUP BY 1, 2""",
        "credit": """SELECT account_locator, currency, amount::numeric FROM account_credits
                     WHERE tenant = :t""",
    }
    sums: defaultdict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for name, query in queries.items():
        for account, currency, amount in conn.execute(sa.text(query), {"t": tenant}):
            sums[(account, currency)][name] = Decimal(amount)
    zero = Decimal(0)
    return sum(1 for got in sums.values()
               if got.get("paid in", zero) + got.get("credited", zero)
               != got.get("settled", zero) + got.get("credit", zero))


def files_written_twice(db: sa.Engine, tenant: str, home: Path) -> int:
    """Files in the document store that no document row names: a render written twice."""
    with db.connect() as conn:
        keys = set(conn.execute(sa.text(
            "SELECT storage_key FROM documents WHERE tenant = :t AND storage_key IS NOT NULL"),
            {"t": tenant}).scalars())
    root = home / "documents"
    stored = {str(p.relative_to(root)) for p in root.rglob("*")
              if p.is_file() and p.relative_to(root).parts[0] != ".incoming"}  # being written
    return len(stored - keys)
