"""The one place reads of jobs are scoped: by tenant, reference and kind, in locator order.

Every lookup walks the `jobs_reference` index (tenant, reference type, reference
locator, kind, locator), so a page costs the same in a table of any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.schema import jobs
from policyjobs.exceptions import NotFound


def _scoped(tenant: str, reference_type: str, reference_locator: str,
            kinds: Sequence[str]) -> list[sa.ColumnElement[bool]]:
    return [
        jobs.c.tenant == tenant,
        jobs.c.reference_type == reference_type,
        jobs.c.reference_locator == reference_locator,
        jobs.c.kind.in_(kinds) if len(kinds) > 1 else jobs.c.kind == kinds[0],
    ]


def list_reference_jobs(conn: sa.Connection, *, tenant: str, reference_type: str,
                        reference_locator: str, kinds: Sequence[str], offset: int,
                        limit: int) -> Sequence[sa.Row[Any]]:
    """Jobs of `kinds` for one reference, oldest first, from `offset`."""
    query = (sa.select(jobs)
             .where(*_scoped(tenant, reference_type, reference_locator, kinds))
             .order_by(jobs.c.locator).offset(offset).limit(limit))
    return conn.execute(query).all()


def latest_reference_job(conn: sa.Connection, *, tenant: str, reference_type: str,
                         reference_locator: str, kinds: Sequence[str]) -> sa.Row[Any]:
    """The newest job of `kinds` for one reference, or `NotFound`."""
    query = (sa.select(jobs)
             .where(*_scoped(tenant, reference_type, reference_locator, kinds))
             .order_by(jobs.c.locator.desc()).limit(1))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no job for {reference_type} {reference_locator}")
    return row


def get_reference_job(conn: sa.Connection, *, tenant: str, reference_type: str,
                      reference_locator: str, kinds: Sequence[str],
                      locator: str) -> sa.Row[Any]:
    """The job `locator` under one reference, or `NotFound`."""
    query = (sa.select(jobs)
             .where(*_scoped(tenant, reference_type, reference_locator, kinds),
                    jobs.c.locator == locator))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no job {locator} for {reference_type} {reference_locator}")
    return row


def child_locators(conn: sa.Connection, parent_locators: Sequence[str]) -> dict[str, list[str]]:
    """Each parent's children, in creation order."""
    found: dict[str, list[str]] = {p: [] for p in parent_locators}
    if not parent_locators:
        return found
    rows = conn.execute(sa.select(jobs.c.parent_locator, jobs.c.locator)
                        .where(jobs.c.parent_locator.in_(parent_locators))
                        .order_by(jobs.c.locator))
    for parent, locator in rows:
        found[parent].append(locator)
    return found


def processing_errors(errors: Sequence[dict[str, Any]]) -> str | None:
    """A job's `processingErrors`: each failed attempt's error, one per line, or None."""
    if not errors:
        return None
    return "\n".join(f"attempt {e.get('attempt')}: {e.get('error')}" for e in errors)
