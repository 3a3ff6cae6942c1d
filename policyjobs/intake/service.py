"""Validating an intake envelope and turning its events into jobs, all or nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from policyjobs.domain import EventType, Intake, JobRef
from policyjobs.engine import JobQueue
from policyjobs.exceptions import Conflict, FieldProblem, InvalidInput, field_path
from policyjobs.intake.models import intake_events
from policyjobs.intake.storable import unkeepable
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_all
from policyjobs.tenants.service import get_tenant

MAX_EVENTS = 1000
MAX_EVENT_ID = 128


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event that passed validation, with its type."""

    index: int
    reactions: tuple[EventType, ...]
    event: BaseModel
    event_id: str | None
    fingerprint: str | None = None  # of the event as sent, when it has an id


def validate_envelope(body: object,
                      types: Mapping[str, tuple[EventType, ...]]) -> list[Accepted]:
    """Every event of one event or of `{"events": [...]}`, or `InvalidInput` naming each problem."""
    if isinstance(body, dict) and "events" in body and "type" not in body:
        if set(body) != {"events"}:
            extra = [field_path([k]) for k in sorted(body) if k != "events"]
            raise InvalidInput(f"unknown fields beside events: {', '.join(extra)}",
                               [FieldProblem(k, "unknown field") for k in extra])
        raw = body["events"]
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("events must be a non-empty array",
                               [FieldProblem("events", "must be a non-empty array")])
    elif isinstance(body, dict):
        raw = [body]
    else:
        raise InvalidInput("the body must be an event object or {\"events\": [...]}")
    if len(raw) > MAX_EVENTS:
        raise InvalidInput(f"a batch holds at most {MAX_EVENTS} events, not {len(raw)}",
                           [FieldProblem("events", f"at most {MAX_EVENTS} events")])
    accepted: list[Accepted] = []
    problems: list[FieldProblem] = []
    for index, item in enumerate(raw):
        found = _validate_event(index, item, types, problems)
        if found:
            accepted.append(found)
    if problems:
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidInput(f"{_rejected(len(raw))}: {summary}{more}", problems)
    return accepted


def _rejected(size: int) -> str:
    """How a refusal opens: a bare event is answered as a batch of one, its fields named
    `events[0].…` as in any batch, but it is not called a batch."""
    return "the event was rejected" if size == 1 else "the batch was rejected whole"


def _validate_event(index: int, item: object, types: Mapping[str, tuple[EventType, ...]],
                    problems: list[FieldProblem]) -> Accepted | None:
    where = f"events[{index}]"
    if not isinstance(item, dict):
        problems.append(FieldProblem(where, "must be an object"))
        return None
    if unkept := unkeepable(item, where):
        problems += unkept
        return None
    type_name = item.get("type")
    reactions = types.get(type_name, ()) if isinstance(type_name, str) else ()
    if not reactions:
        known = ", ".join(sorted(types)) or "none yet"
        problems.append(FieldProblem(f"{where}.type", f"unknown event type {type_name!r}; "
                                                      f"known: {known}"))
        return None
    event_id = item.get("eventId")
    if event_id is not None and (not isinstance(event_id, str)
                                 or not 1 <= len(event_id) <= MAX_EVENT_ID):
        problems.append(FieldProblem(f"{where}.eventId",
                                     f"must be a string of 1 to {MAX_EVENT_ID} characters"))
        return None
    try:
        event = reactions[0].model.model_validate(item)
    except ValidationError as exc:
        for error in exc.errors():
            loc = (where, *error["loc"])
            problems.append(FieldProblem(field_path(loc), error["msg"]))
        return None
    return Accepted(index, reactions, event, event_id,
                    None if event_id is None else _fingerprint(item))


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one event created."""

    event_id: str | None
    jobs: list[JobRef]

    def as_json(self) -> dict[str, Any]:
        """The receipt as the endpoint answers it."""
        body: dict[str, Any] = {}
        if self.event_id is not None:
            body["eventId"] = self.event_id
        body["jobs"] = [{"kind": j.kind, "locator": j.locator} for j in self.jobs]
        return body


def accept_events(conn: sa.Connection, queue: JobQueue, *, tenant: str, created_by: str,
                  events: list[Accepted]) -> list[Receipt]:
    """Create every event's jobs in `conn`'s transaction; replays answer as before."""
    found = get_tenant(conn, tenant)
    if found.retired_at is not None:
        raise Conflict(f"tenant {tenant} is retired and takes no more events")
    intake = Intake(conn, queue, tenant, found.config, created_by)
    _lock(intake, events)
    receipts: list[Receipt] = []
    seen = _stored_receipts(conn, tenant, [e.event_id for e in events if e.event_id is not None])
    taken: list[dict[str, Any]] = []
    run: list[Accepted] = []  # consecutive new events that one `accept_all` may take

    def take_run() -> None:
        for accepted, jobs in zip(run, _react_all(intake, run, size=len(events)), strict=True):
            receipt = Receipt(accepted.event_id, jobs)
            if accepted.event_id is not None:
                taken.append({
                    "tenant": intake.tenant, "event_id": accepted.event_id,
                    "receipt": [{"kind": j.kind, "locator": j.locator} for j in jobs],
                    "fingerprint": accepted.fingerprint,
                    "received_at": intake.queue.clock.now(),
                })
                seen[accepted.event_id] = _Taken(receipt, accepted.fingerprint)
            receipts.append(receipt)
        run.clear()

    for accepted in events:
        event_id = accepted.event_id
        if event_id is not None and (event_id in seen or any(
                event_id == earlier.event_id for earlier in run)):
            take_run()
            _same_event(accepted, seen[event_id])
            receipts.append(seen[event_id].receipt)
            continue
        if run and run[0].reactions != accepted.reactions:
            take_run()
        run.append(accepted)
    take_run()
    if taken:
        insert_all(conn, intake_events, taken)
    return receipts


def _lock(intake: Intake, events: list[Accepted]) -> None:
    """Give each lock hook every event of the batch it serves, once."""
    batches: dict[Callable[[Intake, Sequence[Any]], None], list[Any]] = {}
    for accepted in events:
        for reaction in accepted.reactions:
            if reaction.lock is not None:
                batches.setdefault(reaction.lock, []).append(accepted.event)
    for lock, batch in batches.items():
        lock(intake, batch)


def _react_all(intake: Intake, run: Sequence[Accepted], *, size: int) -> list[list[JobRef]]:
    """Every domain's jobs for each of `run`'s events, all of one type: a reaction that
    accepts them all at once takes them so, unless it refuses one; each event in turn
    otherwise."""
    reactions = run[0].reactions if run else ()
    if len(run) < 2 or not any(reaction.accept_all for reaction in reactions):
        return [_react(intake, accepted, size=size) for accepted in run]
    made: list[list[JobRef]] = [[] for _ in run]
    for reaction in reactions:
        jobs = reaction.accept_all(intake, [a.event for a in run]) if reaction.accept_all \
            else None
        if jobs is None:
            jobs = [_accept(intake, reaction, accepted, size=size) for accepted in run]
        for each, more in zip(made, jobs, strict=True):
            each += more
    return made


def _react(intake: Intake, accepted: Accepted, *, size: int) -> list[JobRef]:
    """Every domain's jobs for one event of a batch of `size`."""
    return [job for reaction in accepted.reactions
            for job in _accept(intake, reaction, accepted, size=size)]


def _accept(intake: Intake, reaction: EventType, accepted: Accepted, *,
            size: int) -> list[JobRef]:
    """One domain's jobs for one event of a batch of `size`; its field problems name the
    event's index."""
    try:
        return reaction.accept(intake, accepted.event)
    except InvalidInput as exc:
        where = f"events[{accepted.index}]"
        problems = [FieldProblem(f"{where}.{p.field}" if p.field else where, p.message)
                    for p in exc.errors] or [FieldProblem(where, exc.detail)]
        raise InvalidInput(f"{_rejected(size)}: {where}: {exc.detail}", problems) from exc


_RECEIPTS = in_tenant(intake_events, TENANT, intake_events.c.event_id,
                      intake_events.c.receipt, intake_events.c.fingerprint).where(
    intake_events.c.event_id.in_(sa.bindparam("event_ids", expanding=True)))


@dataclass(frozen=True, slots=True)
class _Taken:
    """An event taken before with an id: what it made, and its content's fingerprint (None
    when it was taken before fingerprints were kept)."""

    receipt: Receipt
    fingerprint: str | None


def _stored_receipts(conn: sa.Connection, tenant: str,
                     event_ids: list[str]) -> dict[str, _Taken]:
    """The events among `event_ids` taken before, by event id."""
    if not event_ids:
        return {}
    rows = conn.execute(_RECEIPTS, {"tenant": tenant, "event_ids": sorted(set(event_ids))})
    return {row.event_id: _Taken(Receipt(row.event_id, [JobRef(j["kind"], j["locator"])
                                                        for j in row.receipt]),
                                 row.fingerprint) for row in rows}


def _fingerprint(item: dict[str, Any]) -> str:
    """SHA-256 of the event as the client sent it, its keys sorted: neither their order nor
    spacing changes it, and neither does a later release that reads the event otherwise
    (a new field's default, say), so an exact retry across an upgrade is still a replay."""
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _same_event(accepted: Accepted, earlier: _Taken) -> None:
    """Refuse an id sent again with other content: answering it with the first event's jobs
    would drop the new content without a word."""
    if earlier.fingerprint is not None and earlier.fingerprint != accepted.fingerprint:
        raise Conflict(
            f"eventId {accepted.event_id!r} was taken for an event with other content; "
            "a replay must repeat the event exactly, and a new event needs a new id",
            [FieldProblem(f"events[{accepted.index}].eventId", "taken for other content")])
