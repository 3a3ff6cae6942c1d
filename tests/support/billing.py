"""Events and a tenant configuration for tests of billing: a policy billed monthly in 2027."""

from __future__ import annotations

from typing import Any

START, END = "2027-01-01T05:00:00Z", "2028-01-01T05:00:00Z"  # midnight in New York
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
