"""The webhooks domain, wired: the delivery job kind, the routes and permissions, and the
listener that turns other domains' jobs ending into events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial

import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import Ending, EndListener, JobKind, JobQueue, JobStatus, Lane
from policyjobs.webhooks import catalogue, retries, service
from policyjobs.webhooks.delivery import Throttle, deliver, record_successes
from policyjobs.webhooks.endpoints import events_router, webhooks_router
from policyjobs.webhooks.models import DELIVER, webhook_endpoints
from policyjobs.webhooks.sender import Sender

_CHANGES = {JobStatus.FINISHED: "finished", JobStatus.FAILED: "failed",
            JobStatus.CANCELLED: "cancelled"}


def webhooks_domain(keys: service.Keys, *, job_areas: Mapping[str, str],
                    threads: int = 16) -> Domain:
    """The webhooks domain: endpoints' secrets sealed and their URLs held as `keys` say,
    deliveries made on `threads` threads of each worker of their own, and an event
    `<area>.job.finished` or `…failed` for each job of a kind in `job_areas` (kind → area)
    that ends."""
    if missing := [f"{area}.job.{change}" for area in set(job_areas.values())
                   for change in _CHANGES.values()
                   if f"{area}.job.{change}" not in catalogue.KINDS]:
        raise ValueError(f"no such event types: {', '.join(missing)}")
    sender = Sender(keys.rules)
    throttle = Throttle(max(1, threads // 2))
    return Domain(
        name="webhooks",
        kinds=[JobKind(DELIVER, partial(deliver, sealer=keys.sealer, sender=sender,
                                        throttle=throttle),
                       lane=Lane.STANDARD, max_attempts=retries.ATTEMPTS,
                       retry_delays=retries.DELAYS, threads=threads,
                       retry=service.retry_jobs, cancel=service.cancel_jobs)],
        job_listeners=[EndListener(frozenset(job_areas), partial(_jobs_ended, job_areas)),
                       EndListener(frozenset({DELIVER}), record_successes)],
        routers=[webhooks_router(keys)],
        webhooks=[events_router()],
        permissions=["webhooks.read", "webhooks.write"],
        on_tenant_retired=_retired,
        close=sender.close,
    )


def _jobs_ended(areas: Mapping[str, str], queue: JobQueue, conn: sa.Connection,
                endings: Sequence[Ending]) -> None:
    """Record `<area>.job.<change>` for each ending, once per attempt that ended its job."""
    by_tenant: dict[str, list[service.Event]] = defaultdict(list)
    for ending in endings:
        by_tenant[ending.tenant].append(service.Event(
            f"{areas[ending.kind]}.job.{_CHANGES[ending.status]}",
            {"jobLocator": ending.locator, "referenceType": ending.reference_type,
             "referenceLocator": ending.reference_locator},
            dedupe_key=f"{ending.locator}/{ending.attempt}"))
    now = queue.clock.now()
    for tenant, events in by_tenant.items():
        service.publish(conn, queue, tenant=tenant, events=events, at=now)


def _retired(conn: sa.Connection, queue: JobQueue, tenant: str) -> None:
    """A retired tenant's endpoints are disabled: nothing more is sent for it."""
    conn.execute(webhook_endpoints.update().where(webhook_endpoints.c.tenant == tenant)
                 .values(enabled=False, disabled_reason="the tenant was retired"))
