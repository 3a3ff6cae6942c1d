"""What the dashboard shows of other domains: functions the composition root
(`policyjobs.app`) hands to `dashboard_domain`, so that the dashboard imports no domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class File(Protocol):
    """A rendered document's file."""

    @property
    def content(self) -> bytes: ...
    @property
    def content_type(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Documents:
    """The documents domain, as a job's page and the overview show it."""

    kind: str  # the kind of the documents jobs
    # Reads, awaited on the pages' reads (`store.readers.Reads`):
    # (reads, *, tenant, limit) → the locators of the tenant's timed-out jobs, newest first
    timed_out_jobs: Callable[..., Awaitable[Sequence[str]]]
    # (reads, *, tenant, job_locator) → a job's documents
    of_job: Callable[..., Awaitable[Sequence[Any]]]
    # (reads, *, status, job_locator) → whether the job may be retriggered
    retriggerable: Callable[..., Awaitable[bool]]
    # (reads, *, tenant, locator) → a document's row, or `NotFound`
    document: Callable[..., Awaitable[Any]]
    # In a thread: (row) → the document's file, `Conflict` until it is ready, `NotFound`
    # if it is gone; (conn, queue, *, tenant, reference_type, reference_locator,
    # job_locator) → None, a retrigger in the caller's transaction
    file: Callable[[Any], File]
    retrigger: Callable[..., object]


@dataclass(frozen=True, slots=True)
class Webhooks:
    """The webhooks domain, as its page shows it; reads, awaited on the pages' reads."""

    # (reads, *, tenant, offset, limit) → a page of the tenant's endpoints
    endpoints: Callable[..., Awaitable[Sequence[Any]]]
    # (reads, *, tenant, endpoint_, event, offset, limit) → an endpoint's attempts, newest
    # first (of one event, if not None), or `NotFound` for an endpoint the tenant lacks
    attempts: Callable[..., Awaitable[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class Operations:
    """The operations domain, as the dashboard's actions use it. In a thread, each in the
    caller's transaction, an action recorded in the audit trail by its `Actor`:"""

    # (conn, chosen) → how many jobs the filter (`selection.JobFilter`) takes now
    matched: Callable[..., int]
    # (conn, queue, *, action, chosen, actor) → (how many matched, the bulk job)
    act_on_jobs: Callable[..., tuple[int, str]]
    # (conn, queue, *, action, tenant, locators, actor) → each job's verdict (None: done)
    act_now: Callable[..., Mapping[str, str | None]]
    # (conn, queue, *, kind, tenant, actor) → (the pause, whether it is new)
    pause: Callable[..., tuple[Any, bool]]
    # (conn, queue, *, locator, actor) → the pause lifted, or `NotFound`
    resume: Callable[..., Any]
    # Awaited: (reads, job_locator) → the bulk action run by that job, or None
    bulk_action: Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the dashboard is given."""

    documents: Documents
    # (reads, *, tenant, limit) → the tenant's accounts with credit, by currency
    accounts_with_credit: Callable[..., Awaitable[Sequence[Any]]]
    webhooks: Webhooks
    # (reads, *, tenant, action, after, before, offset, limit) → a page of the tenant's
    # audit records, newest first (of one action and from `after` to `before`, if given)
    audit: Callable[..., Awaitable[Sequence[Any]]]
    operations: Operations
