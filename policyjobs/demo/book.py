"""The demo's book of business, pure: who holds which policy on which plan, the events a
platform would send for them, and how each account pays its invoices.

Everything follows from a seed and the first term's start, so two demos tell the same story.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

TIMEZONE = ZoneInfo("America/New_York")  # the demo tenant's
PLANS = ("monthly", "quarterly", "fullPay")
SLOW_PAGES = 12_000  # lines of the booklet that outruns the demo tenant's render deadline


class Payer(enum.StrEnum):
    """How an account pays its invoices."""

    PROMPT = "prompt"  # before each is due
    LATE = "late"  # after each is due, within its grace period: delinquencies that settle
    LAPSING = "lapsing"  # its first invoices, then nothing: a delinquency that lapses


@dataclass(frozen=True, slots=True)
class Account:
    """An account and how it pays."""

    locator: str
    payer: Payer
    pays_first: int = 0  # how many invoices a lapsing account pays before it stops

    def pays(self, index: int, due: datetime, now: datetime) -> bool:
        """Whether, at `now`, the account pays its invoice number `index` (from 0, by due
        time) that is due at `due`."""
        if self.payer is Payer.LATE:
            return now > due
        return self.payer is Payer.PROMPT or index < self.pays_first


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy of one term, billed on a plan, and the quote it came from."""

    number: int
    account: Account
    plan: str
    premium: Decimal
    start: datetime
    end: datetime

    @property
    def locator(self) -> str:
        return f"P-{self.number:04d}"

    @property
    def quote(self) -> str:
        return f"Q-{self.number:04d}"

    @property
    def issuance(self) -> str:
        return f"T-{self.number:04d}"


@dataclass(frozen=True, slots=True)
class Midterm:
    """A transaction during a policy's term: a change or a cancellation, issued at `at`."""

    policy: Policy
    kind: str
    at: datetime
    amount: Decimal = Decimal(0)

    @property
    def locator(self) -> str:
        return f"T-{self.policy.number:04d}-{self.kind}"


@dataclass(frozen=True, slots=True)
class Book:
    """The accounts, their policies, and what happens to them during the year."""

    accounts: list[Account]
    policies: list[Policy]
    midterms: list[Midterm]

    @property
    def slow_quote(self) -> Policy:
        """The policy whose quote's booklet is too long for the render deadline."""
        return self.policies[0]

    @property
    def last_day(self) -> datetime:
        """When the story is over: every term has ended and its last grace period too."""
        return max(p.end for p in self.policies) + timedelta(days=45)


def first_term_start(now: datetime) -> datetime:
    """Local midnight on the first day of the month after next: far enough for the first
    invoices to be generated a fortnight ahead."""
    local = now.astimezone(TIMEZONE)
    return (local + relativedelta(months=2)).replace(day=1, hour=0, minute=0, second=0,
                                                     microsecond=0)


def make_book(start: datetime, *, policies: int = 50, seed: int = 2027) -> Book:
    """`policies` policies over three fifths as many accounts; terms start on the 1st or
    the 15th of the three months from `start`. A few accounts pay late, two lapse."""
    rng = random.Random(seed)
    count = max(policies * 3 // 5, 1)
    late = set(rng.sample(range(count), max(count // 10, 1)))
    lapsing = set(rng.sample(sorted(set(range(count)) - late), min(2, count - len(late))))
    accounts = [Account(f"A-{n:04d}", Payer.LATE if n in late else
                        Payer.LAPSING if n in lapsing else Payer.PROMPT,
                        pays_first=2 if n in lapsing else 0)
                for n in range(count)]
    made = []
    for number in range(1, policies + 1):
        account = accounts[(number - 1) % count]
        months, mid = divmod(rng.randrange(6), 2)
        term_start = start + relativedelta(months=months, days=14 * mid)  # local dates
        plan = "monthly" if account.payer is Payer.LAPSING else rng.choice(PLANS)
        premium = Decimal(rng.randrange(600, 2400, 12))
        made.append(Policy(number, account, plan, premium, term_start,
                           term_start + relativedelta(years=1)))
    prompt = [p for p in made[1:] if p.account.payer is Payer.PROMPT and p.plan == "monthly"]
    midterms = []
    if len(prompt) >= 2:
        changed, cancelled = prompt[0], prompt[1]
        midterms = [Midterm(changed, "change", changed.start + relativedelta(months=4),
                            (changed.premium / 3).quantize(Decimal("0.01"))),
                    Midterm(cancelled, "cancellation",
                            cancelled.start + relativedelta(months=6))]
    return Book(accounts, made, midterms)


def _utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


def quote_event(policy: Policy, trigger: str = "priced", **data: Any) -> dict[str, Any]:
    """The quote `policy` came from, reaching `trigger`."""
    return {"type": "quote", "eventId": f"{policy.quote}-{trigger}", "trigger": trigger,
            "locator": policy.quote, "accountLocator": policy.account.locator,
            "productName": "homeowners", "installmentPlan": policy.plan,
            "term": {"startTime": _utc(policy.start), "endTime": _utc(policy.end)},
            "charges": [{"locator": f"{policy.quote}-premium", "chargeType": "premium",
                         "amount": str(policy.premium)}],
            "data": {"insured": {"name": f"Insured {policy.number:04d}"}, **data}}


def issuance_event(policy: Policy) -> dict[str, Any]:
    """The policy issued: one segment over its term."""
    return {"type": "transaction", "eventId": policy.issuance, "trigger": "issued",
            "transactionType": "issuance", "locator": policy.issuance,
            "policyLocator": policy.locator, "termLocator": f"{policy.locator}-1",
            "accountLocator": policy.account.locator, "installmentPlan": policy.plan,
            "segments": [{"locator": f"{policy.issuance}-S1", "startTime": _utc(policy.start),
                          "endTime": _utc(policy.end),
                          "charges": [{"locator": f"{policy.issuance}-premium",
                                       "chargeType": "premium",
                                       "amount": str(policy.premium)}]}]}


def midterm_event(midterm: Midterm) -> dict[str, Any]:
    """A change that adds premium from `at` to the term's end, or a cancellation from `at`."""
    policy = midterm.policy
    event: dict[str, Any] = {
        "type": "transaction", "eventId": midterm.locator, "trigger": "issued",
        "transactionType": midterm.kind, "locator": midterm.locator,
        "policyLocator": policy.locator, "termLocator": f"{policy.locator}-1",
        "accountLocator": policy.account.locator, "installmentPlan": policy.plan}
    if midterm.kind == "cancellation":
        return {**event, "effectiveTime": _utc(midterm.at)}
    return {**event, "segments": [{
        "locator": f"{midterm.locator}-S1", "startTime": _utc(midterm.at),
        "endTime": _utc(policy.end),
        "charges": [{"locator": f"{midterm.locator}-premium", "chargeType": "premium",
                     "amount": str(midterm.amount)}]}]}


def reversal_event(midterm: Midterm) -> dict[str, Any]:
    """The platform reverses a midterm transaction: a cancellation reversed reinstates."""
    policy, locator = midterm.policy, f"{midterm.locator}-reversal"
    return {"type": "transaction", "eventId": locator, "trigger": "issued",
            "transactionType": "reversal", "locator": locator,
            "policyLocator": policy.locator, "termLocator": f"{policy.locator}-1",
            "accountLocator": policy.account.locator,
            "reversedTransactionLocator": midterm.locator}


def cancellation_event(policy: Policy, at: datetime) -> dict[str, Any]:
    """The platform cancels a policy whose delinquency lapsed, from the lapse."""
    return midterm_event(Midterm(policy, "cancellation", at))
