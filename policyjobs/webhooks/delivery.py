"""The job of one delivery: POST the event to the endpoint, signed, record the attempt, and
say whether to try again (by failing, so that the engine retries on `retries.DELAYS`).

The attempt is recorded in its own transaction after the POST, so a worker killed during
one leaves the delivery pending and the engine runs it again: a receiver may get an event
twice, always with the same `webhook-id`.

Deliveries run on threads of their own in each worker (`JobKind.threads`), so no endpoint
holds a thread another domain's jobs need. Within them, one endpoint cannot hold them all:
no more of its deliveries start while two have waited over a second for an answer, and it
may have at most half of a worker's delivery threads at once (a delivery beyond that waits
up to a second for one to finish); a delivery turned away is postponed a second or two.
An endpoint that let an attempt run out of time is paused: for `PAUSE` no attempt is made
to it (each delivery due meanwhile records one, failed, without a request, and waits for
its next retry), so a dead endpoint costs a couple of threads for 15 s now and then, not
one for each delivery.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
import structlog

from policyjobs.engine import Ending, JobContext, JobStatus, PermanentJobError, Postpone
from policyjobs.store.database import reader
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
    """Deliveries this process is making to each endpoint. No more start while `stuck` of
    an endpoint's deliveries have waited over `STUCK` for an answer; and an endpoint holds
    at most `most` of the delivery threads at once, a delivery beyond that waiting up to
    `WAIT` for one of them to finish (a healthy endpoint's do, in milliseconds) before it
    gives up its turn."""

    STUCK = 1.0  # seconds
    WAIT = 1.0  # seconds

    def __init__(self, most: int, stuck: int = 2) -> None:
        self.most, self.stuck = most, stuck
        self._changed = threading.Condition()
        self._started: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def slot(self, endpoint: str) -> Iterator[str | None]:
        """Why a delivery to `endpoint` may not start now, or None, and then it holds a
        slot until done."""
        deadline = time.monotonic() + self.WAIT
        with self._changed:
            while True:
                at = time.monotonic()
                refused = self._refusal(endpoint, at)
                if refused is None or refused.stuck or at >= deadline:
                    break
                self._changed.wait(deadline - at)
            if refused is None:
                self._started[endpoint].append(at)
        try:
            yield None if refused is None else refused.reason
        finally:
            if refused is None:
                with self._changed:
                    started = self._started[endpoint]
                    started.remove(at)
                    if not started:
                        del self._started[endpoint]
                    self._changed.notify_all()

    def _refusal(self, endpoint: str, now: float) -> _Refusal | None:
        """Why a delivery to `endpoint` may not start at `now`; the lock is held."""
        started = self._started.get(endpoint, [])
        if sum(1 for at in started if at < now - self.STUCK) >= self.stuck:
            return _Refusal(f"{self.stuck} deliveries to the endpoint have waited over "
                            f"{self.STUCK:g} s for an answer", stuck=True)
        if len(started) >= self.most:
            return _Refusal(f"{len(started)} deliveries to the endpoint are in flight",
                            stuck=False)
        return None


@dataclass(frozen=True, slots=True)
class _Refusal:
    reason: str
    stuck: bool  # its deliveries wait on it: no use waiting for one to finish


def body_of(event: Any) -> bytes:
    """What a delivery of `event` (a row of `webhook_events`) sends."""
    return orjson.dumps({
        "id": event.id, "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "tenantLocator": event.tenant, "data": event.data,
    })


def _read() -> sa.Select[Any]:
    """The delivery, its event and its endpoint (none if deleted), by the delivery's locator.
    Built once: building it for each delivery took half the read's CPU."""
    d, e, w = webhook_deliveries.c, webhook_endpoints, webhook_events
    return (sa.select(d.status, d.event_id, d.endpoint_locator, d.job_locator,
                      w.c.type, w.c.tenant, w.c.occurred_at, w.c.data, w.c.id,
                      e.c.url, e.c.enabled, e.c.secret, e.c.previous_secret, e.c.previous_until,
                      e.c.key_id, e.c.paused_until, e.c.failing_since)
            .select_from(webhook_deliveries.join(w, w.c.id == d.event_id)
                         .outerjoin(e, e.c.locator == d.endpoint_locator))
            .where(d.locator == sa.bindparam("b_delivery")))


_READ = _read()


def deliver(context: JobContext, sealer: Sealer, sender: Sender,
            throttle: Throttle) -> dict[str, Any]:
    """Run one attempt at the delivery the job names."""
    locator = str(context.job.payload["delivery"])
    with reader(context.db).connect() as conn:  # one statement: no BEGIN, no ROLLBACK
        row = conn.execute(_READ, {"b_delivery": locator}).first()
    if row is None or row.job_locator != context.job.locator:
        return {"skipped": "the delivery was resent by another job"}
    if row.status != DeliveryStatus.PENDING:
        return {"skipped": f"the delivery is {row.status}"}
    if row.url is None or not row.enabled:
        why = "deleted" if row.url is None else "disabled"
        _end(context, locator, DeliveryStatus.FAILED)
        return {"skipped": f"the endpoint was {why}"}
    now = context.clock.now()
    with throttle.slot(row.endpoint_locator) as busy:
        if busy is not None:
            raise Postpone(busy, until=now + timedelta(seconds=random.uniform(*BUSY_WAIT)))
        if row.paused_until is not None and row.paused_until > now:
            answer = Answer(None, 0, "", "not attempted: the endpoint gave no answer in time "
                            f"lately; no attempt is made to it until {row.paused_until}")
        else:
            answer = _post(sealer, sender, row, now)
    if answer.succeeded:  # recorded as the job ends, with the worker's other results
        log.info("webhook delivered", tenant=row.tenant, delivery=locator,
                 endpoint=row.endpoint_locator, event_id=row.event_id,
                 status_code=answer.status_code, latency_ms=answer.latency_ms)
        return {"delivery": locator, "endpoint": row.endpoint_locator, "eventId": row.event_id,
                "attemptedAt": now.isoformat(), "statusCode": answer.status_code,
                "latencyMs": answer.latency_ms, "response": answer.response,
                "wasFailing": row.failing_since is not None or row.paused_until is not None}
    final = context.job.attempt >= context.job.max_attempts
    status = _record(context, locator, row, answer, now, final)
    log.info("webhook delivery failed", tenant=row.tenant, delivery=locator,
             endpoint=row.endpoint_locator, event_id=row.event_id,
             status_code=answer.status_code, latency_ms=answer.latency_ms, error=answer.error,
             delivery_status=status)
    if status == DeliveryStatus.PENDING:
        raise DeliveryFailed(answer.error or "failed")
    raise PermanentJobError(f"delivery {status}: {answer.error}")


def _this_delivery(locator: Any, job: Any) -> sa.Update:
    """An update of the delivery `locator` while job `job` is the one making it (a resend
    has not handed it to another)."""
    d = webhook_deliveries.c
    return webhook_deliveries.update().where(d.locator == locator, d.job_locator == job)


_SUCCEEDED = _this_delivery(sa.bindparam("b_delivery"), sa.bindparam("b_job")).values(
    status=DeliveryStatus.SUCCEEDED, attempts=webhook_deliveries.c.attempts + 1,
    updated_at=sa.bindparam("b_at"))


def record_successes(queue: Any, conn: sa.Connection, endings: Sequence[Ending]) -> None:
    """Record the deliveries among `endings` that succeeded, in the transaction that ends
    their jobs (one commit for a worker's whole turn, not one a delivery): their attempts,
    their status, and their endpoints healthy again."""
    done = [(ending, orjson.loads(ending.result)) for ending in endings
            if ending.status == JobStatus.FINISHED and ending.result]
    done = [(ending, result) for ending, result in done if "delivery" in result]
    if not done:
        return
    at = {id(result): datetime.fromisoformat(result["attemptedAt"]) for _, result in done}
    conn.execute(webhook_attempts.insert(), [{
        "tenant": ending.tenant, "delivery_locator": result["delivery"],
        "endpoint_locator": result["endpoint"], "event_id": result["eventId"],
        "attempted_at": at[id(result)], "status_code": result["statusCode"],
        "latency_ms": result["latencyMs"], "response": result["response"], "error": None,
    } for ending, result in done])
    conn.execute(_SUCCEEDED, [{"b_delivery": result["delivery"], "b_job": ending.locator,
                               "b_at": at[id(result)]} for ending, result in done])
    if healed := sorted({result["endpoint"] for _, result in done if result["wasFailing"]}):
        e = webhook_endpoints.c
        conn.execute(webhook_endpoints.update().where(e.locator.in_(healed), e.enabled)
                     .values(failing_since=None, paused_until=None,
                             updated_at=queue.clock.now()))


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
    """Record a failed attempt and where it leaves the delivery and its endpoint."""
    e = webhook_endpoints.c
    endpoint_row = webhook_endpoints.update().where(e.locator == row.endpoint_locator,
                                                    e.enabled)
    with context.db.begin() as conn:
        conn.execute(webhook_attempts.insert().values(
            tenant=row.tenant, delivery_locator=locator, endpoint_locator=row.endpoint_locator,
            event_id=row.event_id, attempted_at=now, status_code=answer.status_code,
            latency_ms=answer.latency_ms, response=answer.response, error=answer.error))
        if answer.gone:
            status = DeliveryStatus.GONE
            conn.execute(endpoint_row.values(
                enabled=False, disabled_reason=f"answered 410 Gone at {now.isoformat()}",
                updated_at=now))
        else:
            status = _failed(conn, row.endpoint_locator, answer, now, final)
        conn.execute(_this_delivery(locator, context.job.locator).values(
            status=status, attempts=webhook_deliveries.c.attempts + 1, updated_at=now))
    return status


def _failed(conn: sa.Connection, endpoint: str, answer: Answer, now: datetime,
            final: bool) -> DeliveryStatus:
    """A failed attempt: the endpoint failing since when it first failed (paused after a
    timeout, disabled once failing for five days); the delivery's status."""
    e = webhook_endpoints.c
    found = conn.execute(sa.select(e.failing_since, e.enabled).where(e.locator == endpoint)
                         .with_for_update()).first()
    since = found.failing_since if found is not None and found.failing_since else now
    changes: dict[str, Any] = {"failing_since": since, "updated_at": now}
    if answer.timed_out:
        changes["paused_until"] = now + PAUSE
    status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
    if retries.gives_up(since, now):
        status = DeliveryStatus.FAILED
        changes |= {"enabled": False, "disabled_reason": (
            f"every delivery failed from {since.isoformat()} to {now.isoformat()}, "
            f"{retries.GIVE_UP_AFTER.days} days")}
    if found is not None and found.enabled:
        conn.execute(webhook_endpoints.update().where(e.locator == endpoint).values(**changes))
    return status


def _end(context: JobContext, locator: str, status: DeliveryStatus) -> None:
    with context.db.begin() as conn:
        conn.execute(_this_delivery(locator, context.job.locator).values(
            status=status, updated_at=context.clock.now()))
