"""The demo's year, driven over the API as a platform would drive it: quotes priced, policies
issued, a change and a cancellation, the test clock moved a fortnight at a time, invoices paid
on time, late or never, lapsed policies cancelled, and one documents job that times out and
is retriggered once the operator gives renders more time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from rich.progress import Progress

from policyjobs.demo.book import (
    SLOW_PAGES,
    Book,
    Payer,
    issuance_event,
    midterm_event,
    quote_event,
)
from policyjobs.demo.book import (
    cancellation_event as lapse_cancellation,
)

STEP = timedelta(days=14)  # shorter than the invoices' 15 days of lead: prompt payers are
GRACE = timedelta(days=30)  # the demo tenant's grace period


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Story:
    """What happened during the year, for the summary and the curl lines."""

    lapsed: list[str] = field(default_factory=list)  # policies cancelled after a lapse
    slow_job: str = ""
    slow_retriggered: bool = False
    bulk_retry: dict[str, Any] = field(default_factory=dict)  # the retry's, as the API shows it
    late_invoice: str = ""
    delinquency: str = ""
    # Each mid-term cancellation: its policy, its account, what it credited back of what had
    # been invoiced for cover after it, and the account's credit at the end.
    credited: list[tuple[str, str, Decimal, Decimal]] = field(default_factory=list)


class Year:
    """Drives one tenant's book through its year over `client` (an admin's)."""

    def __init__(self, client: httpx.Client, tenant: str, book: Book,
                 more_render_time: Callable[[], None]) -> None:
        self.client, self.tenant, self.book = client, tenant, book
        self.more_render_time = more_render_time
        self.story = Story()
        self.paid: dict[str, str] = {}  # invoice → "on time" or "late"
        self.midterms = list(book.midterms)

    def run(self, progress: Progress) -> Story:
        """Open the book, then walk the clock to its last day, one step at a time."""
        now = _time(self.client.get("/admin/clock").json()["now"])
        steps = int((self.book.last_day - now) / STEP) + 1
        task = progress.add_task(f"quoting and issuing {len(self.book.policies)} policies",
                                 total=steps + 2)
        self._open()
        self._idle()
        progress.advance(task)
        while now < self.book.last_day:
            now = min(now + STEP, self.book.last_day)
            progress.update(task, description=f"the year: {now.date().isoformat()}")
            self._move_clock(now)
            self._issue_midterms(now)
            self._retrigger_slow_job()
            self._pay(now)
            self._cancel_lapsed(now)
            progress.advance(task)
        progress.update(task, description="settling the last jobs")
        self._idle()
        self._credits()
        progress.advance(task)
        return self.story

    def _send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        receipts: list[dict[str, Any]] = []
        for start in range(0, len(events), 500):
            response = self.client.post(f"/platform/{self.tenant}/events",
                                        json={"events": events[start:start + 500]})
            response.raise_for_status()
            receipts.extend(response.json()["events"])
        return receipts

    def _idle(self) -> None:
        """Wait until no job runs and none is due, for five minutes at most."""
        for _ in range(5):
            if self.client.get("/admin/idle", params={"timeout": 60}).json()["idle"]:
                return
        raise RuntimeError("the demo's jobs did not drain in five minutes: see the dashboard")

    def _move_clock(self, now: datetime) -> None:
        self.client.put("/admin/clock", json={"now": now.isoformat()}).raise_for_status()
        self._idle()

    def _open(self) -> None:
        policies = self.book.policies
        self._send([quote_event(p) for p in policies])
        slow = self.book.slow_quote
        [receipt] = self._send([quote_event(slow, "underwritten", pages=SLOW_PAGES)])
        self.story.slow_job = next(j["locator"] for j in receipt["jobs"]
                                   if j["kind"] == "documents")
        self._send([issuance_event(p) for p in policies])

    def _issue_midterms(self, now: datetime) -> None:
        """Issue each change or cancellation a fortnight before it takes effect."""
        due = [m for m in self.midterms if m.at - STEP <= now]
        if due:
            self._send([midterm_event(m) for m in due])
            self.midterms = [m for m in self.midterms if m not in due]
            self._idle()

    def _retrigger_slow_job(self) -> None:
        """Once the booklet's job has timed out, give renders more time and retry every
        documents job still running (the timed-out ones wait for a retry) in bulk."""
        if self.story.slow_retriggered:
            return
        base = f"/document/{self.tenant}/documents/quote/{self.book.slow_quote.quote}/jobs"
        job = self.client.get(f"{base}/{self.story.slow_job}").json()
        if "timed out" not in (job.get("processingErrors") or ""):
            return
        self.more_render_time()
        asked = self.client.post("/admin/jobs/retry", json={
            "tenantLocator": self.tenant, "kind": "documents", "status": "running"})
        asked.raise_for_status()
        self._idle()
        bulk = self.client.get(f"/admin/jobs/bulk/{asked.json()['jobLocator']}").json()
        self.story.bulk_retry = bulk
        self.story.slow_retriggered = bulk["acted"] > 0

    def _invoices(self, account: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/billing/{self.tenant}/invoices/accounts/{account}/list",
                                   params={"count": 1000})
        response.raise_for_status()
        return sorted(response.json()["items"], key=lambda i: (i["dueTime"], i["locator"]))

    def _pay(self, now: datetime) -> None:
        """Each account pays the open invoices it would pay by now, in one batch."""
        payments = []
        for account in self.book.accounts:
            for index, invoice in enumerate(self._invoices(account.locator)):
                locator, due = invoice["locator"], _time(invoice["dueTime"])
                if invoice["invoiceState"] != "open" or not account.pays(index, due, now):
                    continue
                payments.append({"type": "payment", "eventId": f"pay-{locator}",
                                 "invoiceLocator": locator,
                                 "amount": str(Decimal(str(invoice["totalRemainingAmount"]))),
                                 "currency": invoice["currency"]})
                late = now > due
                self.paid[locator] = "paid late" if late else "paid on time"
                if late and not self.story.late_invoice:
                    self.story.late_invoice = locator
        if payments:
            self._send(payments)
            self._idle()

    def _cancel_lapsed(self, now: datetime) -> None:
        """A lapsing account's delinquency lapses at grace end: cancel its policies then."""
        for account in self.book.accounts:
            if account.payer is not Payer.LAPSING:
                continue
            held = [p for p in self.book.policies
                    if p.account == account and p.locator not in self.story.lapsed]
            unpaid = [i for i in self._invoices(account.locator)
                      if i["invoiceState"] == "open" and _time(i["dueTime"]) + GRACE < now]
            if not held or not unpaid:
                continue
            found = self.client.get(f"/billing/{self.tenant}/delinquencies/invoices/"
                                    f"{unpaid[0]['locator']}/list").json()["items"]
            lapsed = [d for d in found if d["delinquencyState"] == "lapseTriggered"]
            if not lapsed:
                continue
            self.story.delinquency = self.story.delinquency or lapsed[0]["locator"]
            self._send([lapse_cancellation(p, _time(lapsed[0]["graceEndAt"])) for p in held])
            self.story.lapsed.extend(p.locator for p in held)

    def _credits(self) -> None:
        """What each mid-term cancellation credited back: its reversals that reached an
        invoice, as negative items, took back cover that had been invoiced."""
        billing = f"/billing/{self.tenant}"
        for midterm in self.book.midterms:
            if midterm.kind != "cancellation":
                continue
            reversals = self.client.get(
                f"{billing}/installments/transactions/{midterm.locator}/list",
                params={"count": 1000}).json()["items"]
            credited = -sum((Decimal(str(item["amount"])) for reversal in reversals
                             if reversal.get("invoiceLocator")
                             for item in reversal["installmentItems"]), Decimal(0))
            account = midterm.policy.account.locator
            balance = self.client.get(f"{billing}/accounts/{account}/credit").json()["amount"]
            self.story.credited.append((midterm.policy.locator, account, credited,
                                        Decimal(str(balance))))

    def tally(self) -> Counter[str]:
        """Invoices by how they ended: paid on time, paid late, unpaid, or credit (a credit
        invoice, settled when made)."""
        counted: Counter[str] = Counter()
        for account in self.book.accounts:
            for invoice in self._invoices(account.locator):
                how = "credit" if Decimal(str(invoice["totalAmount"])) < 0 else "unpaid"
                counted[self.paid.get(invoice["locator"], how)] += 1
        return counted
