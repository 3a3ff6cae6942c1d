"""What the operations API reads: pages of the audit trail, newest first (by the time each
action was made, then by the order it was recorded), filtered; and a bulk action's progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

import sqlalchemy as sa

from policyjobs.operations.models import operations_bulk
from policyjobs.security.models import audit_records
from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import paged

a = audit_records.c


@cache
def _page(tenant: bool, action: bool, after: bool, before: bool) -> sa.Select[tuple[Row]]:
    """The page statement for one combination of filters (sixteen at most, each built once,
    each able to use its own index)."""
    statement = sa.select(audit_records).order_by(a.at.desc(), a.id.desc())
    if tenant:
        statement = statement.where(a.tenant == sa.bindparam("tenant"))
    if action:
        statement = statement.where(a.action == sa.bindparam("action"))
    if after:
        statement = statement.where(a.at >= sa.bindparam("after"))
    if before:
        statement = statement.where(a.at < sa.bindparam("before"))
    return paged(statement)


async def audit_page(reads: Reads, *, tenant: str | None, action: str | None,
                     after: datetime | None, before: datetime | None, offset: int,
                     limit: int) -> Sequence[Row]:
    """A page of the audit trail, newest first: records of `tenant` (all tenants if None)
    and `action`, made from `after` (inclusive) to `before` (exclusive)."""
    filters = {"tenant": tenant, "action": action, "after": after, "before": before}
    statement = _page(*(value is not None for value in filters.values()))
    params = {name: value for name, value in filters.items() if value is not None}
    return await reads.all(statement, {**params, "offset": offset, "limit": limit})


_BULK = sa.select(operations_bulk).where(
    operations_bulk.c.job_locator == sa.bindparam("locator"))


async def bulk_action(reads: Reads, job_locator: str) -> Row | None:
    """The bulk action run by job `job_locator`, or None."""
    return await reads.first(_BULK, {"locator": job_locator})
