"""The audit trail: every operator action, who made it and when, append-only
(`policyjobs.security.models.audit_records`). No rows exist before.

The store itself refuses to change or remove a record: a trigger on each dialect aborts
any UPDATE or DELETE of the table (and, on PostgreSQL, a TRUNCATE).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from policyjobs.engine.schema import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSAL = "audit records are append-only"


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("locator", sa.String(26), nullable=False, unique=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("token_locator", sa.String(26)),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("tenant", sa.String(36)),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_audit_records_tenant", "audit_records", ["tenant", "at", "id"])
    op.create_index("ix_audit_records_action", "audit_records", ["action", "at", "id"])
    op.create_index("ix_audit_records_at", "audit_records", ["at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        op.execute("""
            CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
            FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()""")
        op.execute("""
            CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
            FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_records_no_{event.lower()} BEFORE {event} ON audit_records
                BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    op.drop_table("audit_records")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_records_append_only()")
