"""The operations API's bodies: bulk actions and their filters, pauses, and records of the
audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, Field

from policyjobs.api.conventions import Schema, Timestamp
from policyjobs.engine.listing import STATUSES
from policyjobs.engine.pauses import Pause
from policyjobs.engine.selection import JobFilter
from policyjobs.intake.events import LOCATOR, LOCATOR_LENGTH

MAX_LOCATORS = 10_000  # jobs a filter may name by locator
Status = Literal[STATUSES]  # type: ignore[valid-type]


class AuditRecord(Schema):
    """One operator action: what, when, who (the token, or the command line), for which
    tenant, and its details (the jobs it touched, what changed)."""

    locator: str
    action: str
    at: Timestamp
    tokenLocator: str | None
    actor: str
    tenantLocator: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> Self:
        """A record's row."""
        return cls(locator=row.locator, action=row.action, at=row.at,
                   tokenLocator=row.token_locator, actor=row.actor, tenantLocator=row.tenant,
                   details=dict(row.details))


class AuditRecordList(Schema):
    """A page of the audit trail, newest first."""

    listCompleted: bool
    items: list[AuditRecord]


class JobsFilter(Schema):
    """Which jobs a bulk retry or cancel takes: each field given narrows them (the
    dashboard's job list's filters, and locators). Naming none takes every job of every
    tenant, which takes `"all": true`."""

    tenantLocator: UUID | None = Field(None, description="Only this tenant's jobs; required "
                                                         "without `admin`.")
    kind: str | None = Field(None, max_length=64, description="Only jobs of this kind.")
    status: Status | None = Field(None, description="Only jobs in this status: the API's "
                                                    "(`running`, `finished`, `failed`) or "
                                                    "the engine's finer one.")
    referenceLocator: str | None = Field(None, max_length=LOCATOR_LENGTH, pattern=LOCATOR,
                                         description="Only jobs about this reference.")
    createdAfter: AwareDatetime | None = Field(None, description="Only jobs made at or after "
                                                                 "this time.")
    createdBefore: AwareDatetime | None = Field(None, description="Only jobs made before this "
                                                                  "time.")
    jobLocators: list[Annotated[str, Field(min_length=1, max_length=26,
                                           pattern=r"^[0-9A-Za-z]+$")]] | None = Field(
        None, min_length=1, max_length=MAX_LOCATORS, description="Only these jobs.")
    dryRun: bool = Field(False, description="Only count the jobs the filter matches.")
    all: bool = Field(False, description="Allow a filter that names nothing: every job of "
                                         "every tenant.")

    def chosen(self) -> JobFilter:
        """The engine's filter."""
        return JobFilter(
            tenant=None if self.tenantLocator is None else str(self.tenantLocator),
            kind=self.kind, status=self.status, reference=self.referenceLocator,
            created_after=self.createdAfter, created_before=self.createdBefore,
            locators=None if self.jobLocators is None else tuple(self.jobLocators))


class JobsMatched(Schema):
    """How many jobs a filter matches (a dry run)."""

    matched: int


class JobsActedOn(Schema):
    """A bulk action accepted: how many jobs it matched, and the job that acts on them."""

    matched: int
    jobLocator: str


class BulkAction(Schema):
    """A bulk retry or cancel, as far as it got: how many jobs it matched when asked for,
    acted on, and skipped, by reason."""

    jobLocator: str
    action: Literal["retry", "cancel"]
    tenantLocator: str | None
    filter: dict[str, Any]
    matched: int
    acted: int
    skipped: dict[str, int]
    createdAt: Timestamp
    finishedAt: Timestamp | None

    @classmethod
    def of(cls, row: Any) -> Self:
        """A bulk action's row."""
        return cls(jobLocator=row.job_locator, action=row.action, tenantLocator=row.tenant,
                   filter=dict(row.filter), matched=row.matched, acted=row.acted,
                   skipped=dict(row.skipped), createdAt=row.created_at,
                   finishedAt=row.finished_at)


class PauseCreate(Schema):
    """A kind to pause, for one tenant or for all."""

    kind: str = Field(max_length=64, description="The job kind to pause.")
    tenantLocator: UUID | None = Field(None, description="Pause it for this tenant only; "
                                                         "absent: for every tenant.")


class PauseView(Schema):
    """A kind paused: its due jobs are not claimed until it is resumed."""

    locator: str
    kind: str
    tenantLocator: str | None  # None: every tenant
    createdAt: Timestamp

    @classmethod
    def of(cls, pause: Pause) -> Self:
        """The engine's pause."""
        return cls(locator=pause.locator, kind=pause.kind,
                   tenantLocator=None if pause.every_tenant else pause.tenant,
                   createdAt=pause.created_at)


class PauseList(Schema):
    """The pauses in force, by kind."""

    listCompleted: bool
    items: list[PauseView]
