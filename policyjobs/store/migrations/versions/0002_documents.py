"""Documents: a row per documents job (deadline, timeout) and one per document.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents_jobs",
        sa.Column("job_locator", sa.String(26),
                  sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("deadline_at", TIME, nullable=False),
        sa.Column("timed_out_at", TIME),
        sa.Column("handled_at", TIME),
    )
    pending = sa.text("timed_out_at IS NULL AND handled_at IS NULL")
    op.create_index("documents_jobs_deadline", "documents_jobs", ["deadline_at"],
                    postgresql_where=pending, sqlite_where=pending)
    op.create_table(
        "documents",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_locator", sa.String(26),
                  sa.ForeignKey("jobs.locator", ondelete="CASCADE"), nullable=False),
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
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("ready_at", TIME),
        sa.Column("transaction_locator", sa.String(64)),
        sa.Column("segment_locator", sa.String(64)),
        sa.Column("policy_locator", sa.String(64)),
        sa.Column("term_locator", sa.String(64)),
        sa.Column("rendering_data", JSON),
    )
    op.create_index("documents_job", "documents", ["job_locator", "locator"])
    op.create_index("documents_tenant", "documents", ["tenant", "locator"])


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_table("documents_jobs")
