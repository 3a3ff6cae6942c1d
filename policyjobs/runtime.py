"""One service instance: its store, clock, queue and the domains it was given.

It knows no domain by name: `policyjobs.app`, the composition root, lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from policyjobs.domain import Domain, EventType
from policyjobs.engine import Clock, JobQueue, Registry, SystemClock, TestClock
from policyjobs.engine.upkeep import Upkeep, fire_due
from policyjobs.engine.worker import Worker
from policyjobs.security import audit
from policyjobs.security.audit import Actor
from policyjobs.security.tokens import VerifiedTokens
from policyjobs.settings import Settings
from policyjobs.store.database import open_store
from policyjobs.store.kept import Kept
from policyjobs.store.migrate import migrate_when_up
from policyjobs.tenants.config import (
    ClaimsConfig,
    StoredConfig,
    TenantConfig,
    TenantConfigSchema,
    dump_tenant_config,
)
from policyjobs.tenants.service import configure_tenant, create_tenant, retire_tenant


@dataclass
class Runtime:
    """The store, clock, registry and queue shared by the API and the workers of a process."""

    settings: Settings
    db: sa.Engine
    clock: Clock
    queue: JobQueue
    domains: list[Domain]
    events: dict[str, tuple[EventType, ...]] = field(default_factory=dict)
    tokens: VerifiedTokens = field(default_factory=lambda: VerifiedTokens(timedelta(0)))
    tenant_configs: TenantConfigSchema = field(default_factory=TenantConfigSchema)
    kept: Kept | None = None  # the tenants and endpoints this process keeps (PostgreSQL)
    _workers: list[tuple[Worker, Upkeep]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, domains: Sequence[Domain], *,
              apply_migrations: bool = True) -> Runtime:
        """Open the store (migrating it first) and register each of `domains`."""
        db = open_store(settings.url, pool_size=settings.concurrency + 10)
        if apply_migrations:
            migrate_when_up(db)
        clock: Clock = TestClock(db) if settings.test_clock else SystemClock()
        registry = Registry()
        events: dict[str, tuple[EventType, ...]] = {}
        for domain in domains:
            for kind in domain.kinds:
                registry.register(kind)
            for duty in domain.duties:
                registry.add_duty(duty)
            for listener in domain.job_listeners:
                registry.listen(listener)
            for event_type in domain.events:
                earlier = events.get(event_type.name, ())
                if earlier and earlier[0].model is not event_type.model:
                    raise ValueError(f"event type {event_type.name!r} has two schemas")
                events[event_type.name] = (*earlier, event_type)
        queue = JobQueue(db, registry, clock, settings.queue_settings())
        kept = Kept.for_store(db)
        if kept:
            kept.start()
        return cls(settings, db, clock, queue, list(domains), events,
                   VerifiedTokens(settings.token_cache), tenant_configs(domains), kept)

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission the domains' routes demand; `admin` is beside them."""
        return frozenset(p for domain in self.domains for p in domain.permissions)

    def start_workers(self, *, concurrency: int | None = None) -> Worker:
        """Start a worker and the scheduler's upkeep in this process."""
        worker = Worker(self.queue, concurrency=concurrency)
        upkeep = Upkeep(self.queue, name=worker.name)
        worker.start()
        upkeep.start()
        self._workers.append((worker, upkeep))
        return worker

    def stop_workers(self) -> None:
        """Stop this process's workers gracefully, then its upkeep."""
        while self._workers:
            worker, upkeep = self._workers.pop()
            worker.stop()
            upkeep.stop()

    def move_clock(self, to: datetime, actor: Actor) -> datetime:
        """Move the test clock to `to` (`ClockTooFar` past its bound), record the move as
        `actor`'s, and make the jobs of every schedule's occurrences that came by it, here:
        the runs start at once, not at the scheduler's next look, wherever its leader is.
        The new now."""
        assert isinstance(self.clock, TestClock)
        was = self.clock.now()
        now = self.clock.set(to)
        with self.db.begin() as conn:
            audit.record(conn, actor, "clock.move", at=now,
                         **{"from": was.isoformat(), "to": now.isoformat()})
            self.queue.wake(conn)
        fire_due(self.queue, now)  # each occurrence once, whoever else fires it
        return now

    def create_tenant(self, config: TenantConfig, actor: Actor | None = None) -> str:
        """Create a tenant configured by `config`, and let each domain take it in; its UUID.
        The configuration is recorded in the audit trail as `actor`'s, if named."""
        with self.db.begin() as conn:
            tenant = create_tenant(conn, config, self.clock.now())
            self._configured(conn, tenant, config, actor, created=True)
        return tenant

    def configure_tenant(self, tenant: str, config: TenantConfig,
                         actor: Actor | None = None) -> None:
        """Replace a tenant's configuration, and let each domain take the change in; the
        change is recorded in the audit trail as `actor`'s, if named."""
        with self.db.begin() as conn:
            configure_tenant(conn, tenant, config)
            self._configured(conn, tenant, config, actor)

    def _configured(self, conn: sa.Connection, tenant: str, config: TenantConfig,
                    actor: Actor | None, *, created: bool = False) -> None:
        dumped = dump_tenant_config(config)
        stored = StoredConfig(dumped)
        if actor is not None:
            audit.record(conn, actor, "tenant.configure", at=self.clock.now(), tenant=tenant,
                         created=created, config=dumped)
        claims = stored.section(ClaimsConfig)
        self.queue.configure_tenant(conn, tenant, max_running=claims.max_running_jobs,
                                    lanes=claims.lanes)
        for domain in self.domains:
            if domain.on_tenant_configured:
                domain.on_tenant_configured(conn, self.queue, tenant, stored)

    def retire_tenant(self, tenant: str) -> bool:
        """Retire `tenant` and end each domain's pending work for it; False if already retired."""
        with self.db.begin() as conn:
            changed = retire_tenant(conn, tenant, self.clock.now())
            if changed:
                for domain in self.domains:
                    if domain.on_tenant_retired:
                        domain.on_tenant_retired(conn, self.queue, tenant)
        return changed

    def close(self) -> None:
        """Stop the workers, then what the domains started, and close the store."""
        self.stop_workers()
        for domain in self.domains:
            if domain.close:
                domain.close()
        self.queue.close()
        if self.kept:
            self.kept.stop()
        self.db.dispose()


def tenant_configs(domains: Sequence[Domain]) -> TenantConfigSchema:
    """The tenant configuration of `domains`: the core keys and each domain's section."""
    return TenantConfigSchema([d.config for d in domains if d.config is not None],
                              [kind.name for d in domains for kind in d.kinds])
