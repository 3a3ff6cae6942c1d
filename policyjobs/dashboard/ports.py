"""What the dashboard shows of other domains: functions the composition root
(`policyjobs.app`) hands to `dashboard_domain`, so that the dashboard imports no domain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    # (conn, *, tenant, limit) → the locators of the tenant's timed-out jobs, newest first
    timed_out_jobs: Callable[..., Sequence[str]]
    # (conn, *, tenant, job_locator) → a job's documents
    of_job: Callable[..., Sequence[Any]]
    # (conn, *, status, job_locator) → whether the job may be retriggered
    retriggerable: Callable[..., bool]
    # (conn, queue, *, tenant, reference_type, reference_locator, job_locator) → None
    retrigger: Callable[..., object]
    # (conn, *, tenant, locator) → a document's row, or `NotFound`
    document: Callable[..., Any]
    # (row) → the document's file, `Conflict` until it is ready, `NotFound` if it is gone
    file: Callable[[Any], File]


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the dashboard is given."""

    documents: Documents
    # (conn, *, tenant, limit) → the tenant's accounts with credit, by currency
    accounts_with_credit: Callable[..., Sequence[Any]]
