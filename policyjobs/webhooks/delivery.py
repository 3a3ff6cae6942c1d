"""The job of one delivery: POST the event to the endpoint, signed, record the attempt, and
say whether to try again (by failing, so that the engine retries on `retries.DELAYS`).

The attempt is recorded in its own transaction after the POST, so a worker killed during
one leaves the delivery pending and the engine runs it again: a receiver may get an event
twice, always with the same `webhook-id`.

Deliveries run on threads of their own in each worker (`JobKind.threads`), so no endpoint
holds a thread another domain's jobs need. Within them, one endpoint cannot hold them all:
a worker makes at most a quarter of its deliveries at once to one endpoint (more wait a
second or two, postponed), and an endpoint that let an attempt run out of time is paused:
for `PAUSE` no attempt is made to it (each delivery due meanwhile records one, failed,
without a request, and waits for its next retry), so a dead endpoint costs a thread for
15 s now and then, not one for each delivery.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
import structlog

from policyjobs.engine import JobContext, PermanentJobError, Postpone
from policyjobs.webhooks import retries, signing
from policyjobs.webhooks.models import (
    DeliveryStatus,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from policyjobs.webhooks.sealing import Sealer
from policyjobs.webhooks.sender import Answer, Sender

log = structlog.get_logger("policyjobs.webhooks")


PAUSE = timedelta(seconds=30)  # no attempt to an endpoint for this long after a timeout
BUSY_WAIT = (1.0, 2.0)  # seconds a delivery waits when its endpoint has enough in flight


class DeliveryFailed(Exception):
    """An attempt failed and another will follow."""


class Throttle:
    """How many deliveries this process is making to each endpoint, up to `most` each."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()

    @contextmanager
    def slot(self, endpoint: str) -> Iterator[bool]:
        """Whether a delivery to `endpoint` may be made now; it holds its slot until done."""
        with self._lock:
            took = self._in_flight[endpoint] < self.most
            if took:
                self._in_flight[endpoint] += 1
        try:
            yield took
        finally:
            if took:
                with self._lock:
                    self._in_flight[endpoint] -= 1
                    if not self._in_flight[endpoint]:
                        del self._in_flight[endpoint]


def body_of(event: Any) -> bytes:
    """What a delivery of `event` (a row of `webhook_events`) sends."""
    return orjson.dumps({
        "id": event.id, "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "tenantLocator": event.tenant, "data": event.data,
    })


def deliver(context: JobContext, sealer: Sealer, sender: Sender,
            throttle: Throttle) -> dict[str, Any]:
    """Run one attempt at the delivery the job names."""
    locator = str(context.job.payload["delivery"])
    d, e, w = webhook_deliveries.c, webhook_endpoints, webhook_events
    with context.db.connect() as conn:
        row = conn.execute(
            sa.select(d.status, d.event_id, d.endpoint_locator, d.job_locator,
                      w.c.type, w.c.tenant, w.c.occurred_at, w.c.data, w.c.id,
                      e.c.url, e.c.enabled, e.c.secret, e.c.previous_secret, e.c.previous_until,
                      e.c.key_id, e.c.paused_until)
            .select_from(webhook_deliveries.join(w, w.c.id == d.event_id)
                         .outerjoin(e, e.c.locator == d.endpoint_locator))
            .where(d.locator == locator)).first()
    if row is None or row.job_locator != context.job.locator:
        return {"skipped": "the delivery was resent by another job"}
    if row.status != DeliveryStatus.PENDING:
        return {"skipped": f"the delivery is {row.status}"}
    if row.url is None or not row.enabled:
        why = "deleted" if row.url is None else "disabled"
        _end(context, locator, DeliveryStatus.FAILED)
        return {"skipped": f"the endpoint was {why}"}
    now = context.clock.now()
    with throttle.slot(row.endpoint_locator) as free:
        if not free:
            raise Postpone(f"{throttle.most} deliveries to the endpoint are in flight",
                           until=now + timedelta(seconds=random.uniform(*BUSY_WAIT)))
        if row.paused_until is not None and row.paused_until > now:
            answer = Answer(None, 0, "", "not attempted: the endpoint gave no answer in time "
                            f"lately; no attempt is made to it until {row.paused_until}")
        else:
            answer = _post(sealer, sender, row, now)
    final = context.job.attempt >= context.job.max_attempts
    status = _record(context, locator, row, answer, now, final)
    log.info("webhook delivery attempt", tenant=row.tenant, delivery=locator,
             endpoint=row.endpoint_locator, event_id=row.event_id, status_code=answer.status_code,
             latency_ms=answer.latency_ms, error=answer.error, delivery_status=status)
    if status == DeliveryStatus.PENDING:
        raise DeliveryFailed(answer.error or "failed")
    if status != DeliveryStatus.SUCCEEDED:
        raise PermanentJobError(f"delivery {status}: {answer.error}")
    return {"statusCode": answer.status_code, "latencyMs": answer.latency_ms}


def _post(sealer: Sealer, sender: Sender, row: Any, now: datetime) -> Answer:
    """Sign the event with the endpoint's secrets and POST it."""
    keys = [sealer.open(row.secret, row.key_id)]
    if row.previous_secret and row.previous_until and row.previous_until > now:
        keys.append(sealer.open(row.previous_secret, row.key_id))
    body = body_of(row)
    return sender.post(row.url, body, signing.headers(keys, row.event_id, int(time.time()),
                                                      body))


def _record(context: JobContext, locator: str, row: Any, answer: Answer, now: datetime,
            final: bool) -> DeliveryStatus:
    """Record the attempt and where it leaves the delivery and its endpoint."""
    e = webhook_endpoints.c
    with context.db.begin() as conn:
        endpoint = conn.execute(sa.select(e.failing_since, e.enabled)
                                .where(e.locator == row.endpoint_locator)
                                .with_for_update()).first()
        conn.execute(webhook_attempts.insert().values(
            tenant=row.tenant, delivery_locator=locator, endpoint_locator=row.endpoint_locator,
            event_id=row.event_id, attempted_at=now, status_code=answer.status_code,
            latency_ms=answer.latency_ms, response=answer.response, error=answer.error))
        if answer.succeeded:
            status = DeliveryStatus.SUCCEEDED
            changes: dict[str, Any] = {"failing_since": None, "paused_until": None}
        elif answer.gone:
            status = DeliveryStatus.GONE
            changes = {"enabled": False,
                       "disabled_reason": f"answered 410 Gone at {now.isoformat()}"}
        else:
            since = endpoint.failing_since if endpoint and endpoint.failing_since else now
            changes = {"failing_since": since}
            if answer.timed_out:
                changes["paused_until"] = now + PAUSE
            if retries.gives_up(since, now):
                status = DeliveryStatus.FAILED
                changes |= {"enabled": False, "disabled_reason": (
                    f"every delivery failed from {since.isoformat()} to {now.isoformat()}, "
                    f"{retries.GIVE_UP_AFTER.days} days")}
            else:
                status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        if endpoint is not None and endpoint.enabled:
            conn.execute(webhook_endpoints.update()
                         .where(e.locator == row.endpoint_locator)
                         .values(**changes, updated_at=now))
        conn.execute(webhook_deliveries.update()
                     .where(webhook_deliveries.c.locator == locator,
                            webhook_deliveries.c.job_locator == context.job.locator)
                     .values(status=status, attempts=webhook_deliveries.c.attempts + 1,
                             updated_at=now))
    return status


def _end(context: JobContext, locator: str, status: DeliveryStatus) -> None:
    with context.db.begin() as conn:
        conn.execute(webhook_deliveries.update()
                     .where(webhook_deliveries.c.locator == locator,
                            webhook_deliveries.c.job_locator == context.job.locator)
                     .values(status=status, updated_at=context.clock.now()))
