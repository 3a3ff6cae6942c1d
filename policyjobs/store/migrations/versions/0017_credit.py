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
- Overpayments made before now were added to their invoice's `paid`, beyond its total, and
  credited nothing. Each such invoice now keeps `paid` at its total, what it took beyond
  becomes its account's credit, and its latest payments record it as `credited`.

Revision ID: 0017
Revises: 0016
"""

from datetime import UTC, datetime
from decimal import Decimal

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
    _credit_overpayments()


INVOICES = sa.table("invoices", sa.column("locator"), sa.column("tenant"),
                    sa.column("account_locator"), sa.column("currency"), sa.column("total"),
                    sa.column("paid"))
PAYMENTS = sa.table("invoice_payments", sa.column("locator"), sa.column("invoice_locator"),
                    sa.column("amount"), sa.column("received_at"), sa.column("credited"))
CREDITS = sa.table("account_credits", sa.column("tenant"), sa.column("account_locator"),
                   sa.column("currency"), sa.column("amount"),
                   sa.column("updated_at", UTCDateTime()))


def _credit_overpayments() -> None:
    """What each invoice was paid beyond its total becomes its account's credit. (Amounts
    are exact decimal text: they are compared here, not in SQL.)"""
    conn = op.get_bind()
    overpaid = [row for row in conn.execute(sa.select(INVOICES))
                if Decimal(row.paid) > Decimal(row.total)]
    credits: dict[tuple[str, str, str], Decimal] = {}
    for invoice in overpaid:
        beyond = Decimal(invoice.paid) - Decimal(invoice.total)
        key = (invoice.tenant, invoice.account_locator, invoice.currency)
        credits[key] = credits.get(key, Decimal(0)) + beyond
        conn.execute(INVOICES.update().where(INVOICES.c.locator == invoice.locator)
                     .values(paid=invoice.total))
        payments = conn.execute(
            sa.select(PAYMENTS.c.locator, PAYMENTS.c.amount)
            .where(PAYMENTS.c.invoice_locator == invoice.locator)
            .order_by(PAYMENTS.c.received_at.desc(), PAYMENTS.c.locator.desc())).all()
        for payment in payments:  # the latest paid what was beyond
            credited = min(Decimal(payment.amount), beyond)
            if credited <= 0:
                break
            conn.execute(PAYMENTS.update().where(PAYMENTS.c.locator == payment.locator)
                         .values(credited=str(credited)))
            beyond -= credited
    now = datetime.now(UTC)
    for (tenant, account, currency), amount in credits.items():
        conn.execute(CREDITS.insert().values(tenant=tenant, account_locator=account,
                                             currency=currency, amount=str(amount),
                                             updated_at=now))


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
