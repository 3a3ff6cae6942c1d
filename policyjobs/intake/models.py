"""The intake receipts table: what each `eventId` made, so a replay answers the same."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

intake_events = sa.Table(
    "intake_events",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("receipt", JSONDoc, nullable=False),
    # SHA-256 of the event as sent, keys sorted: the same id with other content is refused.
    # None for receipts taken before fingerprints were kept, which replay any content.
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)
