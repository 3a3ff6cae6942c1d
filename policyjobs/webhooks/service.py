"""Endpoints, and the events recorded for them: what the API and the CLI do, and what other
domains call (`publish`) in the transaction of each change they tell of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import NIL_UUID, JobQueue, JobStatus, NewJob, new_locator
from policyjobs.engine.actions import cancel_unstarted, not_failed, requeue_failed
from policyjobs.engine.registry import Verdicts
from policyjobs.exceptions import FieldProblem, InvalidInput, NotFound
from policyjobs.security import audit
from policyjobs.security.audit import Actor
from policyjobs.store.kept import read_kept
from policyjobs.store.writes import insert_missing
from policyjobs.webhooks import addresses, catalogue, retries
from policyjobs.webhooks.models import (
    DELIVER,
    DESCRIPTION_MAX,
    DeliveryStatus,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from policyjobs.webhooks.sealing import Sealer
from policyjobs.webhooks.signing import new_secret

# How long a rotated-out secret still signs beside the new one, so that receivers can
# switch at their pace.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Keys:
    """What endpoints' secrets and URLs are held to: the sealer and the address rules."""

    sealer: Sealer
    rules: addresses.Rules
    resolver: addresses.Resolver = addresses.resolve


@dataclass(frozen=True, slots=True)
class Changes:
    """What an update sets; None leaves a field as it is."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def check_fields(keys: Keys, *, url: str | None, event_types: Sequence[str] | None,
                 description: str | None) -> None:
    """Refuse what an endpoint may not hold, naming each field at fault."""
    problems: list[FieldProblem] = []
    if url is not None:
        try:
            addresses.check(url, keys.rules, keys.resolver)
        except addresses.Refused as exc:
            problems.append(FieldProblem("url", str(exc)))
    if event_types is not None:
        problems += [FieldProblem(f"eventTypes[{i}]", f"{name!r} is not an event type; the "
                                  f"types are {', '.join(catalogue.KINDS)}")
                     for i, name in enumerate(event_types) if name not in catalogue.KINDS]
    if description is not None and len(description) > DESCRIPTION_MAX:
        problems.append(FieldProblem(
            "description", f"is {len(description)} characters; at most {DESCRIPTION_MAX}"))
    if problems:
        raise InvalidInput("the webhook endpoint is not valid", problems)


def create(conn: sa.Connection, keys: Keys, *, tenant: str, url: str,
           event_types: Sequence[str], description: str, created_by: str,
           now: datetime) -> tuple[str, str]:
    """A new endpoint, enabled: its locator, and its secret (shown this once)."""
    check_fields(keys, url=url, event_types=event_types, description=description)
    locator, secret = new_locator(), new_secret()
    conn.execute(webhook_endpoints.insert().values(
        locator=locator, tenant=tenant, url=url, event_types=sorted(set(event_types)),
        description=description, enabled=True, secret=keys.sealer.seal(secret),
        key_id=keys.sealer.key_id, created_by=created_by, created_at=now, updated_at=now))
    return locator, secret


def read(conn: sa.Connection, *, tenant: str, locator: str) -> sa.Row[Any]:
    """An endpoint of the tenant, or NotFound."""
    row = conn.execute(sa.select(webhook_endpoints).where(
        webhook_endpoints.c.tenant == tenant, webhook_endpoints.c.locator == locator)).first()
    if row is None:
        raise NotFound(f"webhook endpoint {locator} not found")
    return row


def update(conn: sa.Connection, keys: Keys, *, tenant: str, locator: str, changes: Changes,
           now: datetime) -> None:
    """Change what `changes` sets. Enabling an endpoint forgets why it was disabled, since
    when it failed and any pause."""
    check_fields(keys, url=changes.url, event_types=changes.event_types,
                 description=changes.description)
    read(conn, tenant=tenant, locator=locator)
    values: dict[str, Any] = {"updated_at": now}
    if changes.url is not None:
        values["url"] = changes.url
    if changes.event_types is not None:
        values["event_types"] = sorted(set(changes.event_types))
    if changes.description is not None:
        values["description"] = changes.description
    if changes.enabled is not None:
        values["enabled"] = changes.enabled
        if changes.enabled:
            values |= {"disabled_reason": None, "failing_since": None, "paused_until": None}
    conn.execute(webhook_endpoints.update().where(
        webhook_endpoints.c.locator == locator).values(**values))


def delete(conn: sa.Connection, *, tenant: str, locator: str) -> None:
    """Remove an endpoint: its pending deliveries end as failed when their jobs run."""
    read(conn, tenant=tenant, locator=locator)
    conn.execute(webhook_endpoints.delete().where(webhook_endpoints.c.locator == locator))


def rotate(conn: sa.Connection, keys: Keys, *, tenant: str, locator: str,
           now: datetime) -> str:
    """A new secret for the endpoint (shown this once); the one it replaces signs beside it
    for `ROTATION_OVERLAP`."""
    row = read(conn, tenant=tenant, locator=locator)
    secret = new_secret()
    conn.execute(webhook_endpoints.update().where(webhook_endpoints.c.locator == locator).values(
        secret=keys.sealer.seal(secret),
        previous_secret=keys.sealer.seal(keys.sealer.open(row.secret, row.key_id)),
        previous_until=now + ROTATION_OVERLAP, key_id=keys.sealer.key_id, updated_at=now))
    return secret


@dataclass(frozen=True, slots=True)
class Event:
    """An event to record: its type, the locators it carries, and what makes it one event
    however many times it is told (None: it is told once)."""

    type: str
    data: Mapping[str, str | None]
    dedupe_key: str | None = None


_LISTENING = sa.select(webhook_endpoints.c.locator, webhook_endpoints.c.event_types).where(
    webhook_endpoints.c.tenant == sa.bindparam("tenant"), webhook_endpoints.c.enabled)


def publish(conn: sa.Connection, queue: JobQueue, *, tenant: str, events: Sequence[Event],
            at: datetime, created_by: str | None = None) -> list[str]:
    """Record each of the tenant's `events` that an enabled endpoint wants, with a delivery
    (and its job) for each such endpoint, in the caller's transaction: the ids recorded. An
    event whose `dedupe_key` was recorded already is not recorded again."""
    for event in events:
        if event.type not in catalogue.KINDS:
            raise ValueError(f"{event.type!r} is not an event type")
    endpoints = read_kept(conn, "webhook_endpoints", tenant,
                          lambda: conn.execute(_LISTENING, {"tenant": tenant}).all())
    recorded: list[str] = []
    deliveries: list[dict[str, Any]] = []
    jobs: list[NewJob] = []
    for event in events:
        wanted = [row.locator for row in endpoints
                  if not row.event_types or event.type in row.event_types]
        if not wanted or (event_id := _record(conn, tenant, event, at)) is None:
            continue
        recorded.append(event_id)
        for endpoint in wanted:
            job = _delivery_job(tenant, event_id, created_by)
            deliveries.append({"locator": job.payload["delivery"], "tenant": tenant,
                               "event_id": event_id, "endpoint_locator": endpoint,
                               "status": DeliveryStatus.PENDING, "attempts": 0,
                               "job_locator": job.locator, "created_at": at, "updated_at": at})
            jobs.append(job)
    if deliveries:
        conn.execute(webhook_deliveries.insert(), deliveries)
        queue.enqueue(conn, jobs)
    return recorded


def _record(conn: sa.Connection, tenant: str, event: Event, at: datetime) -> str | None:
    """The id of the event, recorded now; None if its dedupe key was recorded before."""
    event_id = new_locator()
    row = {"id": event_id, "tenant": tenant, "type": event.type, "occurred_at": at,
           "data": dict(event.data), "dedupe_key": event.dedupe_key}
    if event.dedupe_key is None:
        conn.execute(webhook_events.insert().values(**row))
        return event_id
    insert_missing(conn, webhook_events, [row])
    first = conn.execute(sa.select(webhook_events.c.id).where(
        webhook_events.c.tenant == tenant, webhook_events.c.type == event.type,
        webhook_events.c.dedupe_key == event.dedupe_key)).scalar_one()
    return event_id if first == event_id else None


def resend(conn: sa.Connection, queue: JobQueue, *, tenant: str, endpoint: str,
           event_id: str | None, failed_since: datetime | None, now: datetime,
           created_by: str) -> list[str]:
    """Deliver again to an endpoint: one event (made a delivery if it had none, if the
    endpoint wants its type), or every delivery of it that failed since a time; the
    deliveries queued again. Each keeps its event's id, so receivers can tell a resend."""
    read(conn, tenant=tenant, locator=endpoint)
    d = webhook_deliveries.c
    query = sa.select(d.locator, d.event_id).where(d.tenant == tenant,
                                                    d.endpoint_locator == endpoint)
    if event_id is not None:
        known = conn.execute(sa.select(webhook_events.c.id).where(
            webhook_events.c.tenant == tenant, webhook_events.c.id == event_id)).first()
        if known is None:
            raise NotFound(f"webhook event {event_id} not found")
        query = query.where(d.event_id == event_id)
    else:
        query = query.where(d.status.in_([DeliveryStatus.FAILED, DeliveryStatus.GONE,
                                          DeliveryStatus.CANCELLED]),
                            d.updated_at >= failed_since)
    found = [(str(row[0]), str(row[1])) for row in conn.execute(query.order_by(d.locator))]
    if event_id is not None and not found:
        job = _delivery_job(tenant, event_id, created_by)
        conn.execute(webhook_deliveries.insert().values(
            locator=job.payload["delivery"], tenant=tenant, event_id=event_id,
            endpoint_locator=endpoint, status=DeliveryStatus.PENDING, attempts=0,
            job_locator=job.locator, created_at=now, updated_at=now))
        queue.enqueue(conn, [job])
        return [job.payload["delivery"]]
    jobs = []
    for delivery, event in found:
        job = _delivery_job(tenant, event, created_by, delivery)
        conn.execute(webhook_deliveries.update().where(d.locator == delivery).values(
            status=DeliveryStatus.PENDING, job_locator=job.locator, updated_at=now))
        jobs.append(job)
    queue.enqueue(conn, jobs)
    return [delivery for delivery, _ in found]


def retry_jobs(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's retry of failed delivery jobs: the delivery is pending again and its
    job makes one more attempt, with the event's id, so receivers can tell it is the same
    event; a delivery resent by another job since is left to that one."""
    d = webhook_deliveries.c
    verdicts: Verdicts = {}
    for row in rows:
        if row.status != JobStatus.FAILED:
            verdicts[row.locator] = not_failed(row)
            continue
        reopened = conn.execute(
            webhook_deliveries.update()
            .where(d.locator == row.payload["delivery"], d.job_locator == row.locator,
                   d.status != DeliveryStatus.SUCCEEDED)
            .values(status=DeliveryStatus.PENDING, updated_at=queue.clock.now())).rowcount
        verdicts.update(requeue_failed(conn, queue, [row]) if reopened else
                        {row.locator: "the delivery was resent by another job"})
    return verdicts


def cancel_jobs(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """An operator's cancel of delivery jobs not started: the delivery is cancelled with
    its job (a resend makes it again)."""
    verdicts = cancel_unstarted(conn, queue, rows)
    d = webhook_deliveries.c
    for row in rows:
        if verdicts[row.locator] is None:
            conn.execute(webhook_deliveries.update()
                         .where(d.locator == row.payload["delivery"],
                                d.job_locator == row.locator,
                                d.status == DeliveryStatus.PENDING)
                         .values(status=DeliveryStatus.CANCELLED,
                                 updated_at=queue.clock.now()))
    return verdicts


def _delivery_job(tenant: str, event_id: str, created_by: str | None,
                  delivery: str | None = None) -> NewJob:
    """The job of one delivery (a new delivery, unless `delivery` names one)."""
    return NewJob(DELIVER, tenant, {"delivery": delivery or new_locator()},
                  reference_type="webhookEvent", reference_locator=event_id,
                  max_attempts=retries.ATTEMPTS, created_by=created_by or NIL_UUID)


def tell(conn: sa.Connection, queue: JobQueue, tenant: str, type_: str,
         data: Mapping[str, str | None]) -> None:
    """Record one event of the tenant now, in the caller's transaction: what other domains
    are handed (through their ports) to tell of their changes."""
    publish(conn, queue, tenant=tenant, events=[Event(type_, data)], at=queue.clock.now())


def audited(conn: sa.Connection, actor: Actor, now: datetime, *, tenant: str, locator: str,
            change: str, **details: Any) -> None:
    """Record a change of endpoint `locator` in the audit trail, in the change's transaction
    (never a secret)."""
    audit.record(conn, actor, "webhooks.change", at=now, tenant=tenant, change=change,
                 endpointLocator=locator, **details)
