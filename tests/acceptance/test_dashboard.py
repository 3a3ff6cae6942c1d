"""The dashboard in a real headless Chromium, driven through Playwright, over the real app
served by uvicorn with its workers: log in, read the counts, filter, open a failed job and a
timed-out one, retrigger them, see the second finish, log out; another tenant sees nothing."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from policyjobs.api.application import create_app
from policyjobs.runtime import Runtime
from tests.support.http import MakeToken, bearer
from tests.support.live_server import serving

CHROMIUM = os.environ.get("POLICYJOBS_CHROMIUM", "/usr/bin/chromium")
CONFIG = """
documents:
  timeoutSeconds: {timeout}
  definitions:
    - {{staticName: greeting, name: Greeting, trigger: validated, scope: quote, format: text,
       template: "Quote {{{{ reference.locator }}}}"}}
    - {{staticName: schedule, name: Schedule, trigger: validated, scope: quote, format: html,
       template: "<p>{{{{ event.data.schedule.rows }}}}</p>"}}
    - {{staticName: welcome, name: Welcome, trigger: priced, scope: quote, format: text,
       template: "Welcome {{{{ event.data.insured.name }}}}"}}
    - {{staticName: booklet, name: Booklet, trigger: accepted, scope: quote, format: pdf,
       template: "{{% for i in range(event.data.lines) %}}<p>line {{{{ i }}}}</p>{{% endfor %}}"}}
"""
EVERYTHING = ("jobs.read", "jobs.list", "documents.read", "documents.trigger", "jobs.operate")


def quote(locator: str, trigger: str, **data: Any) -> dict[str, Any]:
    """A quote event."""
    return {"type": "quote", "trigger": trigger, "locator": locator, "accountLocator": "A-1",
            "term": {"startTime": "2027-01-01T05:00:00Z", "endTime": "2028-01-01T05:00:00Z"},
            "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "1200.00"}],
            "data": {"insured": {"name": "Ada Lovelace"}, **data}}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (scripts/chromium installs it)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/chromium, or set "
                    "POLICYJOBS_CHROMIUM to a Chromium binary")
    args = ["--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=args)
        try:
            yield launched
        finally:
            launched.close()


class Book:
    """A tenant with one finished, one failed and one timed-out documents job."""

    def __init__(self, runtime: Runtime, make_token: MakeToken, url: str) -> None:
        self.runtime, self.url = runtime, url
        self.tenant = runtime.create_tenant(self.config(timeout=1))
        api = bearer(make_token(self.tenant, "events.write", "documents.read", "admin"))
        self.http = httpx.Client(base_url=url, headers=api, timeout=60)
        self.finished = self.send(quote("Q-OK", "priced"))
        self.failed = self.send(quote("Q-BAD", "validated"))
        self.timed_out = self.send(quote("Q-SLOW", "accepted", lines=4000))
        self.wait_until_timed_out()

    def config(self, *, timeout: int) -> Any:
        return self.runtime.tenant_configs.load(CONFIG.format(timeout=timeout))

    def send(self, event: dict[str, Any]) -> str:
        response = self.http.post(f"/platform/{self.tenant}/events", json=event)
        assert response.status_code == 202, response.text
        return str(response.json()["events"][0]["jobs"][0]["locator"])

    def wait_until_timed_out(self) -> None:
        path = f"/document/{self.tenant}/documents/quote/Q-SLOW/jobs/{self.timed_out}"
        deadline = time.monotonic() + 60
        while "timed out" not in (self.http.get(path).json()["processingErrors"] or ""):
            assert time.monotonic() < deadline, "the slow job never timed out"
            time.sleep(0.1)
        assert self.http.get("/admin/idle", params={"timeout": 60}).json() == {"idle": True}


@pytest.fixture
def book(runtime: Runtime, make_token: MakeToken) -> Iterator[Book]:
    """The app served on a loopback port with its workers, and a tenant's jobs in it."""
    with serving(create_app(runtime, run_workers=True)) as url:
        made = Book(runtime, make_token, url)
        try:
            yield made
        finally:
            made.http.close()


@pytest.fixture
def page(browser: Browser, book: Book) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the served app."""
    context = browser.new_context(base_url=book.url)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, token: str) -> None:
    page.goto("/dashboard")
    expect(page).to_have_url("/dashboard/login")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jobs of tenant")


def reload_until(page: Page, text: str) -> None:
    """Reload until the job's status cell shows `text`, as an operator would."""
    deadline = time.monotonic() + 60
    while text not in page.locator("#status").inner_text():
        assert time.monotonic() < deadline, f"the job never showed {text!r}"
        time.sleep(0.3)
        page.reload()


def test_an_operator_finds_retriggers_and_sees_a_job_finish(page: Page, book: Book,
                                                          make_token: MakeToken) -> None:
    log_in(page, make_token(book.tenant, *EVERYTHING))
    documents_row = page.locator("#counts tr", has_text="documents")
    expect(documents_row).to_contain_text("3")  # all
    expect(documents_row.locator("a.status-failed")).to_have_text("1")
    expect(documents_row.locator("a.status-finished")).to_have_text("1")
    expect(page.locator("svg.chart rect").first).to_be_attached()
    troubled = page.locator("table.jobs")
    expect(troubled.nth(0)).to_contain_text(book.failed)
    expect(troubled.nth(0)).to_contain_text("schedule")  # the failed document, in the error
    expect(troubled.nth(1)).to_contain_text(book.timed_out)
    expect(troubled.nth(1)).to_contain_text("timed out")

    # filters: by status, then by reference locator
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("Kind").select_option("documents")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.jobs tr")
    expect(rows).to_have_count(2)  # the header and the failed job
    expect(rows.nth(1)).to_contain_text(book.failed)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Reference").fill("Q-OK")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text(book.finished)

    # the failed job: its errors, its documents, a file, a retrigger that fails again
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name=book.failed).click()
    expect(page.locator("#status")).to_contain_text("failed")
    expect(page.locator("#created")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    expect(page.locator("#errors")).to_contain_text("dataError")
    expect(page.locator("#lane")).to_have_text("interactive")  # a quote's documents
    expect(page.locator("#documents tr", has_text="Schedule")).to_contain_text("dataError")
    page.locator("#documents tr", has_text="Greeting").get_by_role("link").click()
    expect(page.locator("body")).to_have_text("Quote Q-BAD")
    page.go_back()
    page.get_by_role("button", name="Retrigger").click()
    expect(page.get_by_role("status")).to_contain_text("retriggered")
    reload_until(page, "failed")  # its template is still broken: it fails again, honestly

    # the timed-out job: the operator gives renders more time and retriggers it
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name=book.timed_out).click()
    expect(page.locator("#status")).to_contain_text("running")
    expect(page.locator("#errors")).to_contain_text("timed out")
    book.runtime.configure_tenant(book.tenant, book.config(timeout=120))
    page.get_by_role("button", name="Retrigger").click()
    expect(page.get_by_role("status")).to_contain_text("retriggered")
    reload_until(page, "finished")
    expect(page.locator("#documents")).to_contain_text("ready")
    expect(page.get_by_role("button", name="Retrigger")).to_have_count(0)

    # both retriggers are in the audit trail, by this token, newest first
    page.get_by_role("link", name="Audit").click()
    records = page.locator("#audit tr")
    expect(records).to_have_count(3)  # the header and two retriggers
    expect(records.nth(1)).to_contain_text(book.timed_out)
    expect(records.nth(2)).to_contain_text(book.failed)
    page.get_by_label("Action").select_option("clock.move")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit")).to_contain_text("No records match")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url("/dashboard/login")
    page.goto("/dashboard")
    expect(page).to_have_url("/dashboard/login")


def test_another_tenants_token_sees_none_of_it(page: Page, book: Book, runtime: Runtime,
                                               make_token: MakeToken) -> None:
    other = runtime.create_tenant(runtime.tenant_configs.load(""))
    log_in(page, make_token(other, *EVERYTHING))
    expect(page.locator("#counts")).to_contain_text("No jobs yet.")
    expect(page.locator("header select option")).to_have_count(1)
    page.goto(f"/dashboard/jobs/{book.failed}?tenant={other}")
    expect(page.get_by_role("alert")).to_contain_text(f"no job {book.failed}")
    response = page.goto(f"/dashboard?tenant={book.tenant}")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("does not hold tenant")
    response = page.goto(f"/dashboard/jobs?tenant={book.tenant}&kind=documents")
    assert response is not None
    assert response.status == 403
    expect(page.locator("body")).not_to_contain_text(book.failed)
