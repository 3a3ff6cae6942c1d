"""Cancellations reverse invoiced premium too, and money owed back becomes account credit.

- `installments.bills` says whether an installment is to be invoiced. A policy's billing is,
  and stays so unless a reversal that covers all of it comes before it is invoiced (then
  neither is); a reversal is, unless it cancels an installment not yet invoiced. What
  invoices may bill is now `bills AND invoice_locator IS NULL`, the predicate of the
  `installments_billable` indexes. Existing rows keep what they meant: a billing not
  reversed or invoiced bills, an invoiced one did, a reversal (of what was not invoiced)
  does not.
- `invoice_payments.source` says where the money came from: a `payment` the platform
  reported, or the account's `credit`; `credited` is the part of a payment beyond what the
  invoice still owed, which became credit.
- `account_credits` holds each account's credit, by currency: overpayments and credit
  invoices add to it; invoices use it, oldest first. Its row is locked before the
  invoices it touches.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from policyjobs.engine.schema import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BILLABLE = "bills AND invoice_locator IS NULL"
WAS_BILLABLE = ("policy_locator IS NOT NULL AND invoice_locator IS NULL "
                "AND invalidated_at IS NULL AND reversed_by_locator IS NULL AND depth % 2 = 0")


def _indexes(condition: str) -> None:
    where = sa.text(condition)
    op.create_index("installments_billable", "installments", ["tenant", "generate_time"],
                    postgresql_where=where, sqlite_where=where)
    op.create_index("installments_billable_account", "installments",
                    ["tenant", "account_locator", "currency", "generate_time"],
                    postgresql_where=where, sqlite_where=where)


def upgrade() -> None:
    op.add_column("installments", sa.Column("bills", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.execute(f"UPDATE installments SET bills = TRUE "
               f"WHERE invoice_locator IS NOT NULL OR ({WAS_BILLABLE})")
    op.drop_index("installments_billable", table_name="installments")
    op.drop_index("installments_billable_account", table_name="installments")
    _indexes(BILLABLE)
    op.add_column("invoice_payments", sa.Column("source", sa.String(16), nullable=False,
                                                server_default="payment"))
    op.add_column("invoice_payments", sa.Column("credited", sa.String(48), nullable=False,
                                                server_default="0"))
    op.create_table(
        "account_credits",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("account_locator", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("amount", sa.String(48), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_credits")
    with op.batch_alter_table("invoice_payments") as table:
        table.drop_column("credited")
        table.drop_column("source")
    op.drop_index("installments_billable", table_name="installments")
    op.drop_index("installments_billable_account", table_name="installments")
    _indexes(WAS_BILLABLE)
    with op.batch_alter_table("installments") as table:
        table.drop_column("bills")
