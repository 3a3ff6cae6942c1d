"""The documents domain's tables: one row per documents job, one per document.

A job's row goes with the job; a document, an artifact, stays when ended jobs are pruned.
"""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

KIND = "documents"  # the job kind whose rows `documents_jobs` extends

documents_jobs = sa.Table(
    "documents_jobs",
    metadata,
    sa.Column("job_locator", sa.String(26),
              sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    # Seconds of rendering one attempt may spend, from the tenant's configuration when the
    # job was made or last retriggered.
    sa.Column("timeout_seconds", sa.Integer(), nullable=False),
    # Attempts since the last retrigger that started rendering; one that ends the job
    # (finished, failed or timed out) is the last, so more mean workers died mid-render.
    sa.Column("render_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("timed_out_at", UTCDateTime()),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    # No foreign key: a document outlives its job when ended jobs are pruned.
    sa.Column("job_locator", sa.String(26), nullable=False),
    sa.Column("reference_type", sa.String(16), nullable=False),
    sa.Column("reference_locator", sa.String(64), nullable=False),
    sa.Column("static_name", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("template", sa.Text(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("processing_errors", sa.Text()),
    sa.Column("render_token", sa.String(26)),
    sa.Column("storage_key", sa.String(256)),
    sa.Column("content_type", sa.String(64)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("ready_at", UTCDateTime()),
    sa.Column("transaction_locator", sa.String(64)),
    sa.Column("segment_locator", sa.String(64)),
    sa.Column("policy_locator", sa.String(64)),
    sa.Column("term_locator", sa.String(64)),
    sa.Column("rendering_data", JSONDoc),
    sa.Index("documents_job", "job_locator", "locator"),
    sa.Index("documents_tenant", "tenant", "locator"),
)
