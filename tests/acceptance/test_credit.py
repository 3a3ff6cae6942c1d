"""Cancellations, their reversals and overpayments on the test clock: money owed back is
credited, never lost, and an account's invoices always sum to the cover it had.

The policy of the issue that asked for this: 1,200.00 a year billed monthly from
2027-02-01 in New York, each installment generated 15 days before its month, paid as soon
as it is invoiced (unless a test says otherwise).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.dashboard.session import LOGIN_CSRF
from policyjobs.invoicing.models import invoice_payments
from policyjobs.runtime import Runtime
from tests.support.billing import CONFIG, DELINQUENCY, Books, money
from tests.support.http import MakeToken, assert_problem

START, END = "2027-02-01T05:00:00Z", "2028-02-01T05:00:00Z"
JUNE, JUNE_11 = "2027-06-01T04:00:00Z", "2027-06-11T04:00:00Z"  # midnight in New York
AFTER_JUNE_INVOICE, BEFORE_JUNE_INVOICE = "2027-05-20T12:00:00Z", "2027-05-10T12:00:00Z"


class Account(Books):
    """The tenant, with the policy's events and an account that pays what it is billed."""

    make_token: MakeToken

    def issue(self) -> None:
        self.send({"type": "transaction", "trigger": "issued", "transactionType": "issuance",
                   "locator": "T-1", "policyLocator": "P-1", "termLocator": "TERM-1",
                   "accountLocator": "A-1", "segments": [
                       {"locator": "S-1", "startTime": START, "endTime": END, "charges": [
                           {"locator": "C-1", "chargeType": "premium", "amount": "1200.00"}]}]})

    def cancel(self, effective: str, locator: str = "T-2") -> None:
        self.send(self.cancellation(effective, locator))

    @staticmethod
    def cancellation(effective: str, locator: str = "T-2") -> dict[str, Any]:
        return {"type": "transaction", "trigger": "issued", "transactionType": "cancellation",
                "locator": locator, "policyLocator": "P-1", "accountLocator": "A-1",
                "effectiveTime": effective, "segments": []}

    def reverse(self, transaction: str, locator: str) -> None:
        self.send({"type": "transaction", "trigger": "issued", "transactionType": "reversal",
                   "locator": locator, "policyLocator": "P-1", "accountLocator": "A-1",
                   "reversedTransactionLocator": transaction, "segments": []})

    def live_to(self, when: str, *, paying: bool = True) -> None:
        """Move the clock to `when`, a fortnight at a time, paying each invoice as it comes."""
        target = datetime.fromisoformat(when)
        while True:
            step = min(target, self.runtime.clock.now() + timedelta(days=14))
            self.move_to(step.isoformat())
            if paying:
                self.pay_all()
            if step >= target:
                return

    def pay_all(self) -> None:
        for invoice in self.invoices():
            if invoice["invoiceState"] == "open":
                self.pay(invoice, str(invoice["totalRemainingAmount"]))

    def totals(self) -> list[Decimal]:
        return [money(invoice["totalAmount"]) for invoice in self.invoices()]

    def credit(self) -> Decimal:
        body = self.get("accounts/A-1/credit")
        assert (body["accountLocator"], body["currency"]) == ("A-1", "USD")
        return money(body["amount"])


@pytest.fixture
def account(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Account:
    """The tenant, its clock at the start of January 2027, the policy issued."""
    made = Account(client, runtime, make_token, CONFIG + DELINQUENCY)
    made.make_token = make_token
    made.move_to("2027-01-02T12:00:00Z")
    made.issue()
    return made


def test_a_cancellation_after_the_next_invoice_credits_it_back(account: Account) -> None:
    account.live_to(AFTER_JUNE_INVOICE)  # June's invoice was made on May 17, and paid
    account.cancel(JUNE)
    account.live_to("2028-03-01T12:00:00Z")

    invoices = account.invoices()
    *billed, credit = invoices
    assert [money(i["totalAmount"]) for i in billed] == [Decimal("100.00")] * 5
    assert money(credit["totalAmount"]) == Decimal("-100.00")
    assert sum(account.totals()) == Decimal("400.00")  # February to May
    assert credit["invoiceState"] == "settled"
    assert money(credit["totalRemainingAmount"]) == 0
    assert credit["dueTime"] == credit["generatedTime"]
    assert [money(item["amount"]) for item in credit["invoiceItems"]] == [Decimal("-100.00")]
    assert account.credit() == Decimal("100.00")
    # A credit never opens a delinquency.
    assert account.get(f"delinquencies/invoices/{credit['locator']}/list")["items"] == []


def test_a_cancellation_before_the_next_invoice_bills_nothing_after_it(
        account: Account) -> None:
    account.live_to(BEFORE_JUNE_INVOICE)
    account.cancel(JUNE)
    account.live_to("2028-03-01T12:00:00Z")

    assert account.totals() == [Decimal("100.00")] * 4
    assert account.credit() == 0


@pytest.mark.parametrize(("sent", "totals", "credit"), [
    # June was invoiced: two thirds of it (20 of its 30 days) come back as credit.
    (AFTER_JUNE_INVOICE, [Decimal("100.00")] * 5 + [Decimal("-66.67")], Decimal("66.67")),
    # June was not: its invoice nets the reversal against it.
    (BEFORE_JUNE_INVOICE, [Decimal("100.00")] * 4 + [Decimal("33.33")], Decimal(0)),
])
def test_a_cancellation_mid_frame_takes_back_the_share_after_it(
        account: Account, sent: str, totals: list[Decimal], credit: Decimal) -> None:
    account.live_to(sent)
    account.cancel(JUNE_11)
    account.live_to("2028-03-01T12:00:00Z")

    assert account.totals() == totals
    assert sum(totals) == Decimal("433.33")  # February to June 10
    assert account.credit() == credit
    [june] = [i for i in account.installments("T-2") if i["installmentStartTime"].startswith(
        "2027-06-11")]
    assert money(june["installmentItems"][0]["amount"]) == Decimal("-66.67")


@pytest.mark.parametrize(("sent", "effective"), [
    (AFTER_JUNE_INVOICE, JUNE), (BEFORE_JUNE_INVOICE, JUNE), (AFTER_JUNE_INVOICE, JUNE_11)])
def test_a_reversed_cancellation_bills_again_what_it_took_back(
        account: Account, sent: str, effective: str) -> None:
    account.live_to(sent)
    account.cancel(effective)
    account.live_to("2027-06-20T12:00:00Z")
    account.reverse("T-2", "T-3")
    account.live_to("2028-03-01T12:00:00Z")

    assert sum(account.totals()) == Decimal("1200.00")
    assert account.credit() == 0  # what it credited paid the bill that billed it again
    assert all(i["invoiceState"] == "settled" for i in account.invoices())


@pytest.mark.parametrize(("sent", "credit"), [
    (AFTER_JUNE_INVOICE, Decimal("100.00")),  # all of June comes back, in two credits
    (BEFORE_JUNE_INVOICE, Decimal(0)),  # nothing of June is left: it is never invoiced
])
@pytest.mark.parametrize(("first", "second"), [(JUNE_11, JUNE), (JUNE, JUNE_11)])
def test_a_second_cancellation_takes_back_only_what_the_first_left(
        account: Account, sent: str, credit: Decimal, first: str, second: str) -> None:
    account.live_to(sent)
    account.cancel(first)
    account.cancel(second, "T-3")
    account.live_to("2028-03-01T12:00:00Z")

    assert sum(account.totals()) == Decimal("400.00")  # February to May
    assert account.credit() == credit
    if sent == BEFORE_JUNE_INVOICE:
        assert account.totals() == [Decimal("100.00")] * 4
    taken = [money(item["amount"]) for i in account.installments("T-3")
             for item in i["installmentItems"]]
    assert taken == ([Decimal("-33.33")] if first == JUNE_11 else [])


def test_reversing_the_issuance_after_a_cancellation_takes_back_only_what_is_left(
        account: Account) -> None:
    account.live_to(AFTER_JUNE_INVOICE)
    account.cancel(JUNE_11)
    account.reverse("T-1", "T-3")
    account.live_to("2028-03-01T12:00:00Z")

    assert sum(account.totals()) == 0
    assert account.credit() == Decimal("500.00")  # all it paid, February to June
    taken = [money(item["amount"]) for i in account.installments("T-3")
             for item in i["installmentItems"]]
    assert taken == [Decimal("-100.00")] * 4 + [Decimal("-33.33")]


def test_overpayments_become_credit_that_the_next_invoice_uses(
        account: Account, runtime: Runtime) -> None:
    account.live_to("2027-01-20T12:00:00Z", paying=False)  # February's invoice
    [february] = account.invoices()
    account.pay(february, "150.00")
    account.pay(february, "30.00")  # to an invoice already settled
    assert account.credit() == Decimal("80.00")
    assert account.get(f"invoices/{february['locator']}")["invoiceState"] == "settled"
    assert "A-1</td><td>USD</td><td class=\"n\">80.00" in _overview(account, "admin")
    assert "Account credit" not in _overview(account, "jobs.read", "jobs.list")

    account.live_to("2027-02-20T12:00:00Z", paying=False)  # March's invoice uses it
    march = account.invoices()[1]
    assert (march["invoiceState"], money(march["totalRemainingAmount"])) == (
        "open", Decimal("20.00"))
    assert money(march["invoiceItems"][0]["remainingAmount"]) == Decimal("20.00")
    assert account.credit() == 0
    with runtime.db.connect() as conn:
        used = conn.execute(sa.select(invoice_payments.c.source, invoice_payments.c.amount)
                            .where(invoice_payments.c.invoice_locator == march["locator"])
                            ).all()
    assert [(source, Decimal(amount)) for source, amount in used] == [
        ("credit", Decimal("80.00"))]


def test_credit_settles_an_open_invoice_and_its_delinquency(account: Account) -> None:
    account.live_to("2027-02-20T12:00:00Z", paying=False)  # February due, March invoiced
    february, march = account.invoices()
    [delinquency] = account.get(f"delinquencies/invoices/{february['locator']}/list")["items"]
    assert delinquency["delinquencyState"] == "inGrace"

    account.pay(march, "200.00")  # the 100.00 beyond March's pays February

    assert account.get(f"invoices/{february['locator']}")["invoiceState"] == "settled"
    settled = account.get(f"delinquencies/{delinquency['locator']}")
    assert settled["delinquencyState"] == "settled"
    assert account.credit() == 0


def _overview(account: Account, *permissions: str) -> str:
    """The dashboard's overview, logged in with a token of `permissions`."""
    client = account.client
    client.cookies.clear()
    client.get("/dashboard/login")
    token = account.make_token(account.tenant, *permissions)
    logged = client.post("/dashboard/login", follow_redirects=False, data={
        "token": token, "csrf": client.cookies.get(LOGIN_CSRF) or ""})
    assert logged.status_code == 303
    page = client.get("/dashboard", params={"tenant": account.tenant})
    client.cookies.clear()
    assert page.status_code == 200
    return str(page.text)


@pytest.mark.parametrize("effective", [
    "2027-01-15T05:00:00Z",  # before the policy starts
    "2028-03-01T05:00:00Z",  # after its term ends
])
def test_a_cancellation_outside_the_term_is_400_and_changes_nothing(
        account: Account, effective: str) -> None:
    response = account.client.post(f"/platform/{account.tenant}/events",
                                   headers=account.headers,
                                   json=account.cancellation(effective))

    body = assert_problem(response, 400)
    assert [e["field"] for e in body["errors"]] == ["events[0].effectiveTime"]
    account.settle()
    assert account.get("jobs/installments/transactions/T-2/list")["items"] == []
    assert len(account.installments("T-1")) == 12


def test_the_credit_of_an_account_in_another_currency_unknown_accounts_and_bad_currencies(
        account: Account) -> None:
    missing = account.client.get(f"/billing/{account.tenant}/accounts/A-1/credit",
                                 headers=account.headers)
    assert "no invoice or credit of account A-1" in assert_problem(missing, 404)["detail"]
    account.live_to("2027-01-20T12:00:00Z")  # an invoice: the account is known
    assert account.get("accounts/A-1/credit", currency="EUR") == {
        "accountLocator": "A-1", "currency": "EUR", "amount": 0}
    response = account.client.get(f"/billing/{account.tenant}/accounts/A-1/credit",
                                  headers=account.headers, params={"currency": "XYZ"})
    assert [e["field"] for e in assert_problem(response, 400)["errors"]] == ["currency"]


def test_payments_of_one_batch_pay_in_their_order_as_one_at_a_time_would(
        account: Account) -> None:
    """Intake takes a batch's payments together (`on_payments`); each sees what the ones
    before it did: a partial payment, the rest of it with an overpayment whose credit pays
    the next open invoice, a payment to an invoice that credit settled, and a second
    payment to a settled invoice."""
    account.live_to("2027-02-20T12:00:00Z", paying=False)  # February's and March's invoices
    february, march = account.invoices()
    owed = [money(february["totalAmount"]), money(march["totalAmount"])]
    assert owed == [Decimal("100.00"), Decimal("100.00")]
    payments = [(february, "40.00"), (february, "110.00"), (march, "60.00"),
                (february, "5.00"), (march, "1.00")]
    account.send(*[{"type": "payment", "invoiceLocator": invoice["locator"], "amount": amount,
                    "currency": "USD"} for invoice, amount in payments])

    # February: 40 + 60 of the 110, whose 50 left pays March, which 60 then settles with
    # 10 over; the 5 and the 1 go to credit as well.
    assert [i["invoiceState"] for i in account.invoices()] == ["settled", "settled"]
    assert account.credit() == Decimal("10.00") + Decimal("5.00") + Decimal("1.00")
    with account.runtime.db.connect() as conn:
        rows = conn.execute(sa.select(invoice_payments.c.invoice_locator,
                                      invoice_payments.c.amount, invoice_payments.c.source,
                                      invoice_payments.c.credited)
                            .order_by(invoice_payments.c.received_at,
                                      invoice_payments.c.locator)).all()
    assert sorted((r.invoice_locator == march["locator"], r.source, r.amount, r.credited)
                  for r in rows) == sorted([
        (False, "payment", Decimal("40.00"), 0), (False, "payment", Decimal("110.00"),
                                                  Decimal("50.00")),
        (True, "credit", Decimal("50.00"), 0), (True, "payment", Decimal("60.00"),
                                                Decimal("10.00")),
        (False, "payment", Decimal("5.00"), Decimal("5.00")),
        (True, "payment", Decimal("1.00"), Decimal("1.00"))])


def test_a_refused_payment_in_a_batch_is_named_and_nothing_of_the_batch_is_taken(
        account: Account) -> None:
    account.live_to("2027-01-20T12:00:00Z", paying=False)
    [february] = account.invoices()
    body = {"events": [{"type": "payment", "invoiceLocator": february["locator"],
                        "amount": amount, "currency": currency}
                       for amount, currency in (("10.00", "USD"), ("20.00", "USD"),
                                                ("5.00", "EUR"))]}
    response = account.client.post(f"/platform/{account.tenant}/events",
                                   headers=account.headers, json=body)
    assert_problem(response, 400)
    assert [e["field"] for e in response.json()["errors"]] == ["events[2].currency"]
    assert money(account.get(f"invoices/{february['locator']}")["totalRemainingAmount"]) == \
        money(february["totalAmount"])
