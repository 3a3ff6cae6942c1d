"""The invoicing domain's tables: its jobs' data, invoices, their items and their payments.

Invoices are artifacts: they carry no foreign key to `jobs`, so pruning old jobs never
deletes what they produced. Each installment item is billed by at most one invoice item:
a unique key says so, whatever runs concurrently, is retried or crashes.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from policyjobs.store.schema import DecimalText, JSONDoc, UTCDateTime, metadata

GENERATION = "invoicing.generation"  # a run of the tenant's daily schedule
INSTANCE = "invoicing.instance"  # one invoice of a run: one account and currency
ACCOUNT = "invoicing.account"  # immediate or early invoicing of one account


class InvoicingType(StrEnum):
    """How an invoice came to be, as `invoicingData.invoicingType` names it."""

    SCHEDULED = "scheduled"
    IMMEDIATE = "immediate"
    EARLY = "early"


class InvoiceState(StrEnum):
    """Whether an invoice's payments have reached its total."""

    OPEN = "open"
    SETTLED = "settled"


invoicing_jobs = sa.Table(
    "invoicing_jobs",
    metadata,
    sa.Column("job_locator", sa.String(26),
              sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("invoicing_type", sa.String(16), nullable=False),  # an InvoicingType
    sa.Column("account_locator", sa.String(64)),
    sa.Column("currency", sa.String(3)),  # an instance's
    sa.Column("generate_time", UTCDateTime()),  # an instance's: its run's
    sa.Column("invoice_locator", sa.String(26)),  # an instance's, chosen when it is made
    sa.Column("invoicing_data", JSONDoc, nullable=False),  # as InvoicingJobData shows it
    sa.Column("candidates", sa.Integer(), nullable=False, server_default="0"),
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    # No foreign key: an invoice outlives its job when ended jobs are pruned.
    sa.Column("job_locator", sa.String(26), nullable=False),
    sa.Column("invoicing_type", sa.String(16), nullable=False),
    sa.Column("account_locator", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("start_time", UTCDateTime(), nullable=False),
    sa.Column("end_time", UTCDateTime(), nullable=False),
    sa.Column("generated_time", UTCDateTime(), nullable=False),
    sa.Column("due_time", UTCDateTime(), nullable=False),
    sa.Column("total", DecimalText(), nullable=False),
    sa.Column("paid", DecimalText(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # an InvoiceState
    sa.Column("settled_time", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    # One invoice per job and currency: a job run twice finds the invoice it made.
    sa.UniqueConstraint("job_locator", "currency", name="invoices_job_currency"),
    sa.Index("invoices_account", "tenant", "account_locator", "locator"),
)

invoice_items = sa.Table(
    "invoice_items",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("invoice_locator", sa.String(26), nullable=False),
    sa.Column("installment_locator", sa.String(26), nullable=False),
    # The guard of exactly-once invoicing: no installment item is billed twice.
    sa.Column("installment_item_locator", sa.String(26), nullable=False, unique=True),
    sa.Column("charge_locator", sa.String(64), nullable=False),
    sa.Column("charge_type", sa.String(64), nullable=False),
    sa.Column("element_locator", sa.String(64), nullable=False),
    sa.Column("quote_locator", sa.String(64)),
    sa.Column("policy_locator", sa.String(64)),
    sa.Column("transaction_locator", sa.String(64)),
    sa.Column("amount", DecimalText(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("invoice_items_invoice", "invoice_locator", "locator"),
)

class PaymentSource(StrEnum):
    """Where the money an invoice was paid with came from."""

    PAYMENT = "payment"  # a payment the platform reported
    CREDIT = "credit"  # the account's credit


# The money applied to invoices: each payment the platform reported, on the invoice it named
# (`credited` is what it paid beyond what the invoice owed, which became the account's
# credit), and each use of the account's credit.
invoice_payments = sa.Table(
    "invoice_payments",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("invoice_locator", sa.String(26), nullable=False),
    sa.Column("amount", DecimalText(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False, server_default="payment"),
    sa.Column("credited", DecimalText(), nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Index("invoice_payments_invoice", "invoice_locator", "locator"),
)

# Which generation runs invoiced a quote's or a policy's installments, for the deprecated
# lists of generation jobs by quote and by policy.
invoice_generation_references = sa.Table(
    "invoice_generation_references",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("reference_type", sa.String(16), primary_key=True),  # quote | policy
    sa.Column("reference_locator", sa.String(64), primary_key=True),
    sa.Column("job_locator", sa.String(26), primary_key=True),  # the generation job
)


# Each account's credit, by currency: what it paid beyond its invoices and what credit
# invoices owe it back, less what its invoices used. Never negative. The row is locked
# before any invoice of the account whose payment it may change.
account_credits = sa.Table(
    "account_credits",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("account_locator", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("amount", DecimalText(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
