"""Invoicing: its jobs' data, invoices, their items and payments, and what installments
invoices may still bill.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
MONEY = sa.String(48)
BILLABLE = ("policy_locator IS NOT NULL AND invoice_locator IS NULL "
            "AND invalidated_at IS NULL AND reversed_by_locator IS NULL AND depth % 2 = 0")


def upgrade() -> None:
    op.create_table(
        "invoicing_jobs",
        sa.Column("job_locator", sa.String(26),
                  sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("invoicing_type", sa.String(16), nullable=False),
        sa.Column("account_locator", sa.String(64)),
        sa.Column("currency", sa.String(3)),
        sa.Column("generate_time", TIME),
        sa.Column("invoice_locator", sa.String(26)),
        sa.Column("invoicing_data", JSON, nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "invoices",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_locator", sa.String(26), nullable=False),
        sa.Column("invoicing_type", sa.String(16), nullable=False),
        sa.Column("account_locator", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        *(sa.Column(name, TIME, nullable=False)
          for name in ("start_time", "end_time", "generated_time", "due_time")),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("paid", MONEY, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("settled_time", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.UniqueConstraint("job_locator", "currency", name="invoices_job_currency"),
    )
    op.create_index("invoices_account", "invoices", ["tenant", "account_locator", "locator"])
    op.create_table(
        "invoice_items",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("invoice_locator", sa.String(26), nullable=False),
        sa.Column("installment_locator", sa.String(26), nullable=False),
        sa.Column("installment_item_locator", sa.String(26), nullable=False, unique=True),
        sa.Column("charge_locator", sa.String(64), nullable=False),
        sa.Column("charge_type", sa.String(64), nullable=False),
        sa.Column("element_locator", sa.String(64), nullable=False),
        sa.Column("quote_locator", sa.String(64)),
        sa.Column("policy_locator", sa.String(64)),
        sa.Column("transaction_locator", sa.String(64)),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("invoice_items_invoice", "invoice_items", ["invoice_locator", "locator"])
    op.create_table(
        "invoice_payments",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("invoice_locator", sa.String(26), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
    )
    op.create_index("invoice_payments_invoice", "invoice_payments",
                    ["invoice_locator", "locator"])
    op.create_table(
        "invoice_generation_references",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("reference_type", sa.String(16), primary_key=True),
        sa.Column("reference_locator", sa.String(64), primary_key=True),
        sa.Column("job_locator", sa.String(26), primary_key=True),
    )
    billable = sa.text(BILLABLE)
    op.create_index("installments_billable", "installments", ["tenant", "generate_time"],
                    postgresql_where=billable, sqlite_where=billable)
    op.create_index("installments_billable_account", "installments",
                    ["tenant", "account_locator", "currency", "generate_time"],
                    postgresql_where=billable, sqlite_where=billable)


def downgrade() -> None:
    op.drop_index("installments_billable_account", table_name="installments")
    op.drop_index("installments_billable", table_name="installments")
    for table in ("invoice_generation_references", "invoice_payments", "invoice_items",
                  "invoices", "invoicing_jobs"):
        op.drop_table(table)
