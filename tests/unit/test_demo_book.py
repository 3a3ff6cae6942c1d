"""The demo's book of business: the same story from the same seed, a mix of plans and payers,
and events the intake accepts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from policyjobs.demo.book import (
    TIMEZONE,
    Account,
    Payer,
    cancellation_event,
    first_term_start,
    issuance_event,
    make_book,
    midterm_event,
    quote_event,
)
from policyjobs.intake.events import QuoteEvent, TransactionEvent

START = datetime(2027, 1, 1, tzinfo=TIMEZONE)
Transaction = TypeAdapter(TransactionEvent)


def test_the_first_term_starts_at_local_midnight_the_month_after_next() -> None:
    assert first_term_start(datetime(2026, 11, 29, 2, 15, tzinfo=UTC)) == START
    # 03:00 UTC on the 1st is still October in New York
    assert first_term_start(datetime(2026, 11, 1, 3, tzinfo=UTC)) == datetime(
        2026, 12, 1, tzinfo=TIMEZONE)


def test_a_seed_tells_one_story() -> None:
    assert make_book(START) == make_book(START)
    assert make_book(START) != make_book(START, seed=1)


def test_fifty_policies_mix_plans_payers_and_start_dates() -> None:
    book = make_book(START)
    assert len(book.policies) == 50
    assert len(book.accounts) == 30
    assert set(Counter(p.plan for p in book.policies)) == {"monthly", "quarterly", "fullPay"}
    payers = Counter(a.payer for a in book.accounts)
    assert payers[Payer.LATE] == 3
    assert payers[Payer.LAPSING] == 2
    starts = {p.start for p in book.policies}
    assert min(starts) == START
    assert all(s.day in (1, 15) and s.hour == 0 for s in starts)
    assert all(p.end == p.start.replace(year=p.start.year + 1) for p in book.policies)
    assert book.last_day == max(p.end for p in book.policies) + timedelta(days=45)


def test_lapsing_accounts_pay_monthly_so_that_they_have_invoices_to_miss() -> None:
    book = make_book(START)
    lapsing = [p for p in book.policies if p.account.payer is Payer.LAPSING]
    assert lapsing
    assert {p.plan for p in lapsing} == {"monthly"}


def test_one_change_and_one_cancellation_of_policies_that_pay_on_time() -> None:
    change, cancellation = make_book(START).midterms
    assert (change.kind, cancellation.kind) == ("change", "cancellation")
    for midterm in (change, cancellation):
        assert midterm.policy.account.payer is Payer.PROMPT
        assert midterm.policy.start < midterm.at < midterm.policy.end
    assert change.amount > 0


def test_each_payer_pays_what_it_should_when_it_should() -> None:
    due = datetime(2027, 2, 1, tzinfo=TIMEZONE)
    before, after = due - timedelta(days=3), due + timedelta(days=3)
    prompt, late = Account("A", Payer.PROMPT), Account("B", Payer.LATE)
    lapsing = Account("C", Payer.LAPSING, pays_first=2)
    assert prompt.pays(5, due, before)
    assert not late.pays(0, due, before)
    assert late.pays(0, due, after)
    assert lapsing.pays(1, due, before)
    assert not lapsing.pays(2, due, after)


def test_the_events_are_ones_the_intake_accepts() -> None:
    book = make_book(START)
    policy = book.policies[0]
    quote = QuoteEvent.model_validate(quote_event(policy, "underwritten", pages=3))
    assert quote.data["pages"] == 3
    issued = Transaction.validate_python(issuance_event(policy))
    assert issued.segments[0].startTime == policy.start
    for midterm in book.midterms:
        Transaction.validate_python(midterm_event(midterm))
    lapse = Transaction.validate_python(cancellation_event(policy, policy.start))
    assert lapse.transactionType == "cancellation"
    assert lapse.effectiveTime == policy.start
