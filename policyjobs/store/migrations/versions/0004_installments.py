"""Installments: the jobs' data and per-chain order, lattices, installments and their items.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _locator(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "installment_jobs",
        sa.Column("job_locator", sa.String(26),
                  sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_type", sa.String(16), nullable=False),
        sa.Column("chain", sa.String(80), nullable=False),
        sa.Column("lattice_locator", sa.String(26)),
        sa.Column("installment_locators", sa.Text()),
        sa.Column("done_at", TIME),
    )
    op.create_index("installment_jobs_chain", "installment_jobs",
                    ["tenant", "chain", "job_locator"])
    op.create_table(
        "installment_chains",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("chain", sa.String(80), primary_key=True),
        sa.Column("last_job_locator", sa.String(26), nullable=False),
    )
    op.create_table(
        "installment_lattices",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_locator", sa.String(26), nullable=False),
        _locator("account_locator", nullable=False),
        _locator("quote_locator"),
        _locator("policy_locator"),
        _locator("term_locator"),
        _locator("transaction_locator"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("plan_name", sa.String(64)),
        sa.Column("term_start", TIME, nullable=False),
        sa.Column("term_end", TIME, nullable=False),
        sa.Column("effective_time", TIME, nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("based_on_locator", sa.String(26)),
        sa.Column("frames", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("invalidated_at", TIME),
    )
    op.create_index("installment_lattices_quote", "installment_lattices",
                    ["tenant", "quote_locator", "locator"])
    op.create_index("installment_lattices_policy", "installment_lattices",
                    ["tenant", "policy_locator", "locator"])
    op.create_table(
        "installments",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_locator", sa.String(26), nullable=False),
        sa.Column("lattice_locator", sa.String(26), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        _locator("account_locator", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _locator("quote_locator"),
        _locator("policy_locator"),
        _locator("term_locator"),
        _locator("transaction_locator"),
        *(sa.Column(name, TIME, nullable=False) for name in (
            "installment_start", "installment_end", "coverage_start", "coverage_end",
            "generate_time", "due_time")),
        sa.Column("invoice_locator", sa.String(26)),
        sa.Column("reversal_of_locator", sa.String(26)),
        sa.Column("reversed_by_locator", sa.String(26)),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("invalidated_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by", sa.String(36), nullable=False),
    )
    op.create_index("installments_quote", "installments", ["tenant", "quote_locator", "locator"])
    op.create_index("installments_transaction", "installments",
                    ["tenant", "transaction_locator", "locator"])
    op.create_index("installments_policy", "installments",
                    ["tenant", "policy_locator", "installment_start"])
    op.create_index("installments_lattice", "installments", ["lattice_locator", "locator"])
    op.create_table(
        "installment_items",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("installment_locator", sa.String(26), nullable=False),
        _locator("charge_locator", nullable=False),
        sa.Column("charge_type", sa.String(64), nullable=False),
        _locator("element_locator", nullable=False),
        sa.Column("amount", sa.String(48), nullable=False),
        sa.Column("invoice_item_locator", sa.String(26)),
        sa.Column("reversal_of_item_locator", sa.String(26)),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
    )
    op.create_index("installment_items_installment", "installment_items",
                    ["installment_locator", "locator"])


def downgrade() -> None:
    for table in ("installment_items", "installments", "installment_lattices",
                  "installment_chains", "installment_jobs"):
        op.drop_table(table)
