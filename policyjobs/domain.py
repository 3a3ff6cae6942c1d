"""What a domain contributes to the service: job kinds, duties, intake events and routes."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel

from policyjobs.engine import JobQueue
from policyjobs.engine.registry import Duty, EndListener, JobKind
from policyjobs.tenants.config import ConfigSection, StoredConfig

# Tells integrators of a change (`policyjobs.webhooks`): records an event of the tenant, in
# the caller's transaction, as (conn, queue, tenant, type, data). The composition root hands
# each domain the webhooks domain's; a domain built without it tells no one (`untold`).
Tell = Callable[[sa.Connection, JobQueue, str, str, Mapping[str, str | None]], None]


def untold(conn: sa.Connection, queue: JobQueue, tenant: str, type_: str,
           data: Mapping[str, str | None]) -> None:
    """A `Tell` that records nothing."""


@dataclass(frozen=True, slots=True)
class Intake:
    """What an intake handler gets: the tenant and its configuration, the caller and the
    transaction."""

    conn: sa.Connection
    queue: JobQueue
    tenant: str
    config: StoredConfig
    created_by: str


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job an event created, as the intake receipt lists it."""

    kind: str
    locator: str


@dataclass(frozen=True, slots=True)
class EventType:
    """A domain's reaction to an intake event type: the event's schema and what it makes.

    Several domains may react to one type (a priced quote makes documents and
    installments); they then share one schema.
    """

    name: str
    model: type[BaseModel]
    accept: Callable[[Intake, Any], list[JobRef]]
    # Called once per batch, before any `accept`, with every event of the batch this hook
    # is given for: a domain takes here, in one order, the locks its `accept`s will need,
    # so two batches that touch the same things in other orders cannot deadlock.
    lock: Callable[[Intake, Sequence[Any]], None] | None = None
    # Accepts several events of the type at once, in their order, with one statement of
    # each kind for all where `accept` runs its own for each: each event's jobs, or None
    # (having written nothing) if any event is one `accept` would refuse, which then
    # takes each alone and names the one it refuses. Given the runs of consecutive events
    # of a batch that only this type's reactions take (a replay ends a run).
    accept_all: Callable[[Intake, Sequence[Any]], Sequence[list[JobRef]] | None] | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """Where the API shows what a job of `reference_type` is about (`label`): its GET
    `path`, with `{tenant}` and `{locator}` (the job's reference locator) in it. The
    dashboard links a job's reference to it."""

    reference_type: str
    label: str
    path: str


@dataclass(frozen=True, slots=True)
class Domain:
    """A bounded piece of the product: what it registers with the engine, intake and API, the
    section of the tenant configuration it reads, and the permissions its routes demand."""

    name: str
    kinds: Sequence[JobKind] = ()
    duties: Sequence[Duty] = ()
    # Told of other kinds' jobs as they end, in the transaction that ends them.
    job_listeners: Sequence[EndListener] = ()
    events: Sequence[EventType] = ()
    routers: Sequence[APIRouter] = field(default_factory=tuple)
    # What the service sends integrators (OpenAPI `webhooks`): requests it makes, not routes.
    webhooks: Sequence[APIRouter] = field(default_factory=tuple)
    # What the API shows of the references its jobs are about.
    links: Sequence[Link] = ()
    config: type[ConfigSection] | None = None
    permissions: Sequence[str] = ()
    # Called in the transaction that retires a tenant, to end the domain's pending work.
    on_tenant_retired: Callable[[sa.Connection, JobQueue, str], None] | None = None
    # Called in the transaction that creates or reconfigures a tenant, with its new
    # configuration: to keep what the domain derives from it, such as a schedule.
    on_tenant_configured: Callable[[sa.Connection, JobQueue, str, StoredConfig], None] | None \
        = None
    # Called when the runtime closes, after its workers stopped: to stop what the domain
    # started, such as processes.
    close: Callable[[], None] | None = None


def load_plugin(path: str) -> Domain:
    """The `domain` attribute of module `path`, as named in `POLICYJOBS_PLUGINS`."""
    module = importlib.import_module(path)
    domain = getattr(module, "domain", None)
    if not isinstance(domain, Domain):
        raise ValueError(f"plugin {path!r} has no `domain` of type policyjobs.domain.Domain")
    return domain
