"""What a tenant's configuration sets of how its jobs are claimed: a cap on its jobs running
at once, and the lane of its jobs of some kinds (see `fairness`)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from policyjobs.engine.jobs import Lane
from policyjobs.engine.pauses import OFFSET
from policyjobs.engine.schema import engine_lanes, engine_tenants, job_queue, jobs

_OVERRIDE = (sa.select(engine_lanes.c.lane)
             .where(engine_lanes.c.tenant == job_queue.c.tenant,
                    engine_lanes.c.kind == job_queue.c.kind)
             .scalar_subquery())
_OWN = sa.select(jobs.c.lane).where(jobs.c.id == job_queue.c.id).scalar_subquery()
_LANE = sa.func.coalesce(_OVERRIDE, _OWN, int(Lane.STANDARD)) + OFFSET  # paused or not


def configure(conn: sa.Connection, tenant: str, *, max_running: int | None,
              lanes: Mapping[str, Lane]) -> None:
    """Set the tenant's cap (None: none) and its lanes by kind, in `conn`'s transaction, and
    move its jobs in the queue to the lanes now set: those a kind's lane no longer names go
    back to the lane their enqueuer chose (those of a paused kind stay out of sight)."""
    if max_running is not None and max_running < 1:
        raise ValueError(f"a tenant's cap must be at least 1, not {max_running}")
    conn.execute(engine_tenants.delete().where(engine_tenants.c.tenant == tenant))
    if max_running is not None:
        conn.execute(engine_tenants.insert().values(tenant=tenant, max_running=max_running))
    conn.execute(engine_lanes.delete().where(engine_lanes.c.tenant == tenant))
    if lanes:
        conn.execute(engine_lanes.insert(), [
            {"tenant": tenant, "kind": kind, "lane": int(lane)} for kind, lane in lanes.items()
        ])
    conn.execute(job_queue.update()
                 .where(job_queue.c.tenant == tenant, job_queue.c.lane != _LANE)
                 .values(lane=_LANE))
