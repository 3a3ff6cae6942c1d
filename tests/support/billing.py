"""Events, a tenant configuration and a client for tests of billing: a policy billed monthly
in 2027."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from tests.support.engine_domain import clock_of
from tests.support.http import MakeToken, bearer

START, END = "2027-01-01T05:00:00Z", "2028-01-01T05:00:00Z"  # midnight in New York
# When the tenant is made: the policies' events come after it, their first invoices in
# mid-December.
OPENED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIG = """
timezone: America/New_York
currency: USD
defaultInstallmentPlan: monthly
installmentPlans:
  monthly: {cadence: monthly, maxInstallmentsPerTerm: 12, generateLeadDays: 15,
            dueLeadDays: 0}
  fullPay: {cadence: fullPay, generateLeadDays: 15}
invoicing:
  generateTimeOfDay: "02:00"
"""
# A 30-day grace period: a reminder with a text notice 5 days in, a final notice 7 days
# before its end, then a lapse.
DELINQUENCY = """
delinquency:
  gracePeriodDays: 30
  lapseTransactionType: lapse
  events:
    - name: reminder
      offsetBasis: gracePeriodStart
      offsetDays: 5
      notice: {staticName: reminderNotice, name: Reminder, format: text,
               template: "Pay invoice {{ invoice.locator }} by {{ delinquency.graceEndAt }}"}
    - {name: finalNotice, offsetBasis: gracePeriodEnd, offsetDays: -7}
"""


def issuance(locator: str, policy: str, amount: str = "1200.00", *, account: str = "A-1",
             currency: str = "USD", plan: str = "monthly") -> dict[str, Any]:
    """An issued policy over 2027, billed monthly by default."""
    return {"type": "transaction", "trigger": "issued", "transactionType": "issuance",
            "locator": locator, "policyLocator": policy, "termLocator": f"TERM-{policy}",
            "accountLocator": account, "currency": currency, "installmentPlan": plan,
            "segments": [{"locator": f"S-{locator}", "startTime": START, "endTime": END,
                          "charges": [{"locator": f"C-{locator}", "chargeType": "premium",
                                       "amount": amount}]}]}


def open_books(runtime: Runtime) -> None:
    """Bring the test clock to `OPENED` if it is earlier, before a billing tenant is made:
    the tenant's daily runs before it would bill nothing."""
    clock = clock_of(runtime)
    if clock.now() < OPENED:
        clock.set(OPENED)


class Books:
    """A tenant billed monthly in New York, its admin token, and the test clock, which
    starts no earlier than `OPENED`."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken,
                 config: str = CONFIG) -> None:
        self.client, self.runtime = client, runtime
        open_books(runtime)
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(config))
        self.headers = bearer(make_token(self.tenant, "admin"))

    def send(self, *events: dict[str, Any], status: int = 202) -> Any:
        """Post the events, expecting `status`, and wait until every job they made has run."""
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": list(events)})
        assert response.status_code == status, response.text
        self.settle()
        return response.json()

    def settle(self) -> None:
        idle = self.client.get("/admin/idle", params={"timeout": 120}, headers=self.headers)
        assert idle.json() == {"idle": True}

    def move_to(self, when: str) -> None:
        """Move the test clock, then wait for every run and job that became due."""
        response = self.client.put("/admin/clock", headers=self.headers, json={"now": when})
        assert response.status_code == 200, response.text
        self.settle()

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"/billing/{self.tenant}/{path}", headers=self.headers,
                                   params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def invoices(self, account: str = "A-1") -> list[dict[str, Any]]:
        body = self.get(f"invoices/accounts/{account}/list", count=1000,
                        includeZeroAmountInvoices="true")
        assert body["listCompleted"] is True
        return [self.get(f"invoices/{item['locator']}") for item in body["items"]]

    def installments(self, transaction: str) -> list[dict[str, Any]]:
        return list(self.get(f"installments/transactions/{transaction}/list",
                             count=1000)["items"])

    def pay(self, invoice: dict[str, Any], amount: str, currency: str = "USD") -> Any:
        return self.send({"type": "payment", "invoiceLocator": invoice["locator"],
                          "amount": amount, "currency": currency})


def money(value: Any) -> Decimal:
    """A JSON number as the decimal it stands for."""
    return Decimal(str(value))
