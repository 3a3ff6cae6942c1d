"""The delinquency domain's tables: delinquencies, their events, and its jobs' data.

A delinquency is an artifact and outlives its jobs; an invoice has at most one (a unique
key says so, whatever runs concurrently, is retried or crashes).
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

CREATE = "delinquency.create"  # at an invoice's due time: open a delinquency if unsettled
GRACE = "delinquency.grace"  # at grace end: lapse, or find it settled
EVENT = "delinquency.event"  # at a configured event's trigger time


class DelinquencyState(StrEnum):
    """Where a delinquency stands."""

    IN_GRACE = "inGrace"
    LAPSE_TRIGGERED = "lapseTriggered"
    SETTLED = "settled"


class EventState(StrEnum):
    """Whether a delinquency event has fired."""

    ACTIVE = "active"
    TRIGGERED = "triggered"
    CANCELLED = "cancelled"


class CancellationType(StrEnum):
    """Why a delinquency event's job was cancelled, exactly as `spec/jobs-api.txt` names it."""

    CANCELLATION_REQUESTED = "cancellationRequested"
    RESCHEDULED = "rescheduled"
    TENANT_RETIRED = "tenantRetired"
    DELINQUENCY_SETTLED = "delinquencySettled"
    DELINQUENCY_HELD = "delinquencyHeld"


class JobType(StrEnum):
    """Which of the domain's jobs a row of `delinquency_jobs` describes."""

    CREATE = "create"
    GRACE = "grace"
    EVENT = "event"


delinquencies = sa.Table(
    "delinquencies",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("invoice_locator", sa.String(26), nullable=False, unique=True),
    sa.Column("account_locator", sa.String(64), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # a DelinquencyState
    sa.Column("grace_start", UTCDateTime(), nullable=False),
    sa.Column("grace_end", UTCDateTime(), nullable=False),
    sa.Column("held_at", UTCDateTime()),
    sa.Column("settings", JSONDoc, nullable=False),  # as DelinquencySettings shows them
    sa.Column("configured_events", JSONDoc, nullable=False),
    sa.Column("grace_job_locator", sa.String(26), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("delinquencies_invoice", "tenant", "invoice_locator", "locator"),
)

delinquency_events = sa.Table(
    "delinquency_events",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("delinquency_locator", sa.String(26), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # an EventState
    sa.Column("trigger_time", UTCDateTime(), nullable=False),
    sa.Column("triggered_at", UTCDateTime()),
    sa.Column("job_locator", sa.String(26), nullable=False),  # its current job
    sa.Column("notice", JSONDoc),  # the notice it renders, from the configuration
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(36), nullable=False),
    sa.Index("delinquency_events_delinquency", "delinquency_locator", "locator"),
)

delinquency_jobs = sa.Table(
    "delinquency_jobs",
    metadata,
    sa.Column("job_locator", sa.String(26),
              sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("job_type", sa.String(8), nullable=False),  # a JobType
    sa.Column("invoice_locator", sa.String(26)),
    sa.Column("delinquency_locator", sa.String(26)),
    sa.Column("event_locator", sa.String(26)),
    sa.Column("due_time", UTCDateTime()),  # a create job's: the invoice's
    sa.Column("trigger_time", UTCDateTime()),  # an event job's
    sa.Column("outcome", sa.String(16)),  # a grace job's: lapseTriggered | settled
    sa.Column("delinquency_locators", JSONDoc),  # a create job's, once done
    sa.Column("cancellation_type", sa.String(24)),  # a CancellationType
    sa.Column("rescheduled_by_locator", sa.String(26)),
    sa.Column("updated_event_locators", JSONDoc),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
