"""The webhooks domain's tables: endpoints, the events recorded for them, one delivery per
(event, endpoint), and every attempt at a delivery.

An event is recorded in the transaction of the change it tells of, with a delivery and its
job for each endpoint subscribed then (an outbox: a change rolled back records nothing, and
a delivery's job is as durable as the change). An event no endpoint wants is not recorded.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

DELIVER = "webhooks.deliver"  # one delivery: POST the event to the endpoint, signed
DESCRIPTION_MAX = 500


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # its next attempt is queued
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt failed, or the endpoint was disabled meanwhile
    GONE = "gone"  # the endpoint answered 410 Gone: no more attempts
    CANCELLED = "cancelled"  # an operator cancelled its job before it was made


webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("event_types", JSONDoc, nullable=False),  # [] means every type
    sa.Column("description", sa.String(DESCRIPTION_MAX), nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    # Why it was disabled, when the service disabled it (410, or failing for days).
    sa.Column("disabled_reason", sa.String(500)),
    # The secret, sealed (`sealing`), under the key `key_id` names; and the one it replaced,
    # still signing beside it until `previous_until`.
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("previous_secret", sa.Text()),
    sa.Column("previous_until", UTCDateTime()),
    sa.Column("key_id", sa.String(32), nullable=False),
    # Since when every attempt has failed (None: the last one succeeded, or none was made).
    sa.Column("failing_since", UTCDateTime()),
    # After an attempt got no answer in time, no delivery is tried before this (`delivery`).
    sa.Column("paused_until", UTCDateTime()),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("webhook_endpoints_tenant", "tenant", "locator"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),  # a ULID: the deliveries' webhook-id
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("data", JSONDoc, nullable=False),
    # What makes two recordings one event (a job's end is told once per attempt that ended
    # it, whichever process tells it): NULL for events that cannot be told twice.
    sa.Column("dedupe_key", sa.String(200)),
    sa.Index("webhook_events_dedupe", "tenant", "type", "dedupe_key", unique=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(26), sa.ForeignKey("webhook_events.id"), nullable=False),
    sa.Column("endpoint_locator", sa.String(26), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("job_locator", sa.String(26), nullable=False),  # its latest job
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("event_id", "endpoint_locator", name="webhook_deliveries_once"),
    sa.Index("webhook_deliveries_endpoint", "tenant", "endpoint_locator", "locator"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("delivery_locator", sa.String(26), nullable=False),
    sa.Column("endpoint_locator", sa.String(26), nullable=False),
    sa.Column("event_id", sa.String(26), nullable=False),
    sa.Column("attempted_at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer()),  # None: no answer (refused, timed out, …)
    sa.Column("latency_ms", sa.Integer(), nullable=False),
    sa.Column("response", sa.Text(), nullable=False),  # the first KiB of its body
    sa.Column("error", sa.String(500)),  # why it failed, when it did
    sa.Index("webhook_attempts_endpoint", "tenant", "endpoint_locator", "id"),
    sa.Index("webhook_attempts_event", "tenant", "event_id", "id"),
)
