"""Account credit: money an account is owed back, which its invoices use.

Credit arises, in the invoice's currency, from a payment beyond what its invoice still owed
(all of one to an invoice already settled) and from a credit invoice, whose total is
negative. It is used at once by the account's open invoices in that currency, oldest first,
and by each invoice made later: each use is an `invoice_payments` row whose source is
`credit`, and an invoice it settles is settled as a payment would settle it (its
delinquency too). The balance is never negative, and every change of it holds the
account's `account_credits` row, locked before any invoice of the account it may pay, so
two changes take turns and cannot deadlock over an invoice. (The invoice a job is making is
written before it takes the lock; no one else sees that row until the job commits, so
nothing waits on it.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from policyjobs.engine import new_locator
from policyjobs.invoicing.models import (
    InvoiceState,
    PaymentSource,
    account_credits,
    invoice_payments,
    invoices,
)

Settled = Callable[[str], None]  # told the locator of each invoice a use of credit settles


@dataclass(frozen=True, slots=True)
class Account:
    """An account's credit in one currency, as a change of it sees it."""

    tenant: str
    locator: str
    currency: str


# Bound as `of_…`: an UPDATE may not bind a name that is also one of its table's columns.
_KEY = sa.and_(account_credits.c.tenant == sa.bindparam("of_tenant"),
               account_credits.c.account_locator == sa.bindparam("of_account"),
               account_credits.c.currency == sa.bindparam("of_currency"))
# The balance, its row made at zero if missing and held either way, in one statement: on a
# conflict the row is written again as it was, which holds it as `FOR UPDATE` would.
_KEPT: dict[str, Any] = {"index_elements": list(account_credits.primary_key.columns),
                         "set_": {"amount": account_credits.c.amount}}
_RETURNED = (account_credits.c.tenant, account_credits.c.account_locator,
             account_credits.c.currency, account_credits.c.amount)
_LOCKED = {
    "postgresql": postgresql.insert(account_credits).on_conflict_do_update(**_KEPT)
    .returning(*_RETURNED),
    "sqlite": sqlite.insert(account_credits).on_conflict_do_update(**_KEPT)
    .returning(*_RETURNED),
}
_SET = account_credits.update().where(_KEY).values(amount=sa.bindparam("amount"),
                                                   updated_at=sa.bindparam("now"))
_OPEN = (sa.select(invoices.c.locator, invoices.c.total, invoices.c.paid)
         .where(invoices.c.tenant == sa.bindparam("of_tenant"),
                invoices.c.account_locator == sa.bindparam("of_account"),
                invoices.c.currency == sa.bindparam("of_currency"),
                invoices.c.state == InvoiceState.OPEN)
         .order_by(invoices.c.locator).with_for_update())
_PAY = invoices.update().where(invoices.c.locator == sa.bindparam("invoice"))


def lock_all(conn: sa.Connection, accounts: Sequence[Account],
             now: datetime) -> dict[Account, Decimal]:
    """Each account's credit, their rows held until the caller's transaction ends, in one
    statement (several rows to one INSERT), in the order of their keys."""
    chosen = sorted(set(accounts), key=lambda a: (a.tenant, a.locator, a.currency))
    rows = conn.execute(_LOCKED[conn.dialect.name], [
        {"tenant": account.tenant, "account_locator": account.locator,
         "currency": account.currency, "amount": Decimal(0), "updated_at": now}
        for account in chosen]).all()
    return {Account(row.tenant, row.account_locator, row.currency): row.amount for row in rows}


def use(conn: sa.Connection, account: Account, balance: Decimal, *, now: datetime, by: str,
        settled: Settled) -> Decimal:
    """Pay the account's open invoices from `balance` (its credit, held by `lock_all`), oldest
    first, and keep what is left as its credit; what is left."""
    if balance > 0:
        for invoice in conn.execute(_OPEN, _params(account)).all():
            owed = invoice.total - invoice.paid
            if owed <= 0:
                continue
            used = min(owed, balance)
            conn.execute(invoice_payments.insert(), {
                "locator": new_locator(), "tenant": account.tenant,
                "invoice_locator": invoice.locator, "amount": used, "currency": account.currency,
                "source": PaymentSource.CREDIT, "credited": Decimal(0), "received_at": now,
                "created_by": by})
            paying = invoice.paid + used >= invoice.total
            conn.execute(_PAY, {"invoice": invoice.locator, "paid": invoice.paid + used,
                                "state": InvoiceState.SETTLED if paying else InvoiceState.OPEN,
                                "settled_time": now if paying else None})
            balance -= used
            if paying:
                settled(invoice.locator)
            if balance == 0:
                break
    conn.execute(_SET, {**_params(account), "amount": balance, "now": now})
    return balance


def _params(account: Account) -> dict[str, str]:
    return {"of_tenant": account.tenant, "of_account": account.locator,
            "of_currency": account.currency}

