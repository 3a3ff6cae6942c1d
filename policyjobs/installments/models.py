"""The installments domain's tables: its jobs' data, lattices, installments and their items.

Lattices and installments are artifacts, not job data: they carry no foreign key to
`jobs`, so pruning old jobs never deletes what the jobs produced.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from policyjobs.store.schema import DecimalText, JSONDoc, UTCDateTime, metadata

KIND = "installments"  # the job kind whose rows `installment_jobs` extends

# What invoices may still bill: installments to be billed that no invoice has yet.
_BILLABLE = sa.text("bills AND invoice_locator IS NULL")


class JobType(StrEnum):
    """What an installments job does, as `InstallmentJobData.jobType` names it."""

    CREATE_OR_UPDATE = "createOrUpdate"
    INVALIDATE = "invalidate"
    UNBILL = "unbill"


installment_jobs = sa.Table(
    "installment_jobs",
    metadata,
    sa.Column("job_locator", sa.String(26),
              sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("job_type", sa.String(16), nullable=False),  # a JobType
    sa.Column("chain", sa.String(80), nullable=False),  # its ordered key: "quote:Q-1", "policy:P-1"
    sa.Column("lattice_locator", sa.String(26)),
    sa.Column("installment_locators", sa.Text()),  # comma-separated, once done
    sa.Column("done_at", UTCDateTime()),
    sa.Index("installment_jobs_chain", "tenant", "chain", "job_locator"),
)

installment_lattices = sa.Table(
    "installment_lattices",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("job_locator", sa.String(26), nullable=False),
    sa.Column("account_locator", sa.String(64), nullable=False),
    sa.Column("quote_locator", sa.String(64)),
    sa.Column("policy_locator", sa.String(64)),
    sa.Column("term_locator", sa.String(64)),
    sa.Column("transaction_locator", sa.String(64)),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("plan_name", sa.String(64)),
    sa.Column("term_start", UTCDateTime(), nullable=False),
    sa.Column("term_end", UTCDateTime(), nullable=False),
    sa.Column("effective_time", UTCDateTime(), nullable=False),
    sa.Column("reversal", sa.Boolean(), nullable=False),
    sa.Column("based_on_locator", sa.String(26)),
    sa.Column("frames", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("invalidated_at", UTCDateTime()),
    sa.Index("installment_lattices_quote", "tenant", "quote_locator", "locator"),
    sa.Index("installment_lattices_policy", "tenant", "policy_locator", "locator"),
)

installments = sa.Table(
    "installments",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("job_locator", sa.String(26), nullable=False),
    sa.Column("lattice_locator", sa.String(26), nullable=False),
    sa.Column("frame_index", sa.Integer(), nullable=False),
    sa.Column("account_locator", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("quote_locator", sa.String(64)),
    sa.Column("policy_locator", sa.String(64)),
    sa.Column("term_locator", sa.String(64)),
    sa.Column("transaction_locator", sa.String(64)),
    sa.Column("installment_start", UTCDateTime(), nullable=False),
    sa.Column("installment_end", UTCDateTime(), nullable=False),
    sa.Column("coverage_start", UTCDateTime(), nullable=False),
    sa.Column("coverage_end", UTCDateTime(), nullable=False),
    sa.Column("generate_time", UTCDateTime(), nullable=False),
    sa.Column("due_time", UTCDateTime(), nullable=False),
    sa.Column("invoice_locator", sa.String(26)),
    sa.Column("reversal_of_locator", sa.String(26)),
    sa.Column("reversed_by_locator", sa.String(26)),  # the installment that reverses this one
    # 0 for a billing, 1 for its reversal, 2 for the reversal of that, …: even ones bill.
    sa.Column("depth", sa.Integer(), nullable=False),
    # Whether an invoice is to bill it: a policy's billing, unless a reversal that covers
    # all of it came before it was invoiced (then neither bills); a reversal, unless it
    # cancelled an installment that was not invoiced. A quote's installments never bill.
    sa.Column("bills", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("invalidated_at", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(36), nullable=False),
    sa.Index("installments_quote", "tenant", "quote_locator", "locator"),
    sa.Index("installments_transaction", "tenant", "transaction_locator", "locator"),
    sa.Index("installments_policy", "tenant", "policy_locator", "installment_start"),
    sa.Index("installments_lattice", "lattice_locator", "locator"),
    # What invoices may still bill: the generation run's scan by generate time, and an
    # account's by currency.
    sa.Index("installments_billable", "tenant", "generate_time",
             postgresql_where=_BILLABLE, sqlite_where=_BILLABLE),
    sa.Index("installments_billable_account", "tenant", "account_locator", "currency",
             "generate_time", postgresql_where=_BILLABLE, sqlite_where=_BILLABLE),
)

installment_items = sa.Table(
    "installment_items",
    metadata,
    sa.Column("locator", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("installment_locator", sa.String(26), nullable=False),
    sa.Column("charge_locator", sa.String(64), nullable=False),
    sa.Column("charge_type", sa.String(64), nullable=False),
    sa.Column("element_locator", sa.String(64), nullable=False),
    sa.Column("amount", DecimalText(), nullable=False),
    sa.Column("invoice_item_locator", sa.String(26)),
    sa.Column("reversal_of_item_locator", sa.String(26)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Index("installment_items_installment", "installment_locator", "locator"),
)
