"""Operators' actions on the dashboard, in a real headless Chromium over the served app: a
bulk retry that first shows how many jobs match and asks, then runs as a job whose page
shows its progress; a job's attempts, its retry and cancel buttons; pausing a kind from a
job's page and resuming it from the pauses page; each action in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from policyjobs.api.application import create_app
from policyjobs.runtime import Runtime
from tests.acceptance.test_dashboard import browser, log_in  # noqa: F401 - fixture
from tests.support.api_domain import KIND as PING
from tests.support.engine_domain import status
from tests.support.http import MakeToken, bearer
from tests.support.live_server import serving

OPERATOR = ("jobs.read", "jobs.list", "jobs.operate")


class Pings:
    """A served app, and a tenant with three failed pings and one that runs in 2030."""

    def __init__(self, runtime: Runtime, make_token: MakeToken, url: str) -> None:
        self.runtime, self.url = runtime, url
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(""))
        self.http = httpx.Client(base_url=url, timeout=60, headers=bearer(
            make_token(self.tenant, "events.write", "admin")))
        self.failed = [self.ping(f"F-{n}", fail=True) for n in range(3)]
        self.later = self.ping("L-1", runAt="2030-01-01T00:00:00Z")
        self.settle()

    def ping(self, locator: str, **fields: object) -> str:
        response = self.http.post(f"/platform/{self.tenant}/events",
                                  json={"type": "test.ping", "locator": locator, **fields})
        assert response.status_code == 202, response.text
        return str(response.json()["events"][0]["jobs"][0]["locator"])

    def settle(self) -> None:
        assert self.http.get("/admin/idle", params={"timeout": 60}).json() == {"idle": True}


@pytest.fixture
def pings(runtime: Runtime, make_token: MakeToken) -> Iterator[Pings]:
    with serving(create_app(runtime, run_workers=True)) as url:
        made = Pings(runtime, make_token, url)
        try:
            yield made
        finally:
            made.http.close()


@pytest.fixture
def page(browser: Browser, pings: Pings) -> Iterator[Page]:  # noqa: F811 - the fixture
    context = browser.new_context(base_url=pings.url)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_operator_retries_in_bulk_after_a_count_and_acts_on_one_job(
        page: Page, pings: Pings, make_token: MakeToken) -> None:
    log_in(page, make_token(pings.tenant, *OPERATOR))
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("Kind").select_option(PING)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.locator("#bulk").get_by_role("link", name="Retry…").click()
    expect(page.locator("#matched")).to_contain_text("3 jobs")
    page.get_by_role("button", name="Retry 3 jobs").click()
    expect(page.get_by_role("status")).to_contain_text("3 jobs that matched")
    pings.settle()
    page.reload()
    expect(page.locator("#progress")).to_contain_text("done at")
    expect(page.locator("#acted")).to_have_text("3")

    # One failed job: both its attempts, each with its worker and error; retried once more.
    page.goto(f"/dashboard/jobs/{pings.failed[0]}?tenant={pings.tenant}")
    attempts = page.locator("#attempts tr")
    expect(attempts).to_have_count(3)  # the header and two attempts
    expect(attempts.nth(2)).to_contain_text("asked to fail")
    expect(attempts.nth(2).locator("td").nth(3)).not_to_be_empty()  # its worker
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("retried")
    pings.settle()
    page.reload()
    expect(page.locator("#attempts tr")).to_have_count(4)

    # The job due in 2030: cancelled from its page; then no button offers to cancel it.
    page.goto(f"/dashboard/jobs/{pings.later}?tenant={pings.tenant}")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert status(pings.runtime, pings.later) == "cancelled"

    page.get_by_role("link", name="Audit").click()
    expect(page.locator("#audit tr")).to_have_count(4)  # the header and three actions


def test_an_operator_pauses_a_kind_from_a_job_and_resumes_it(
        page: Page, pings: Pings, make_token: MakeToken) -> None:
    log_in(page, make_token(pings.tenant, *OPERATOR))
    page.goto(f"/dashboard/jobs/{pings.failed[0]}?tenant={pings.tenant}")
    page.get_by_role("button", name=f"Pause {PING}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{PING} paused")
    held = pings.ping("H-1")
    pings.settle()  # a paused job is not work
    assert status(pings.runtime, held) == "queued"
    page.goto(f"/dashboard/jobs/{held}?tenant={pings.tenant}")
    expect(page.locator("#paused")).to_contain_text("paused for this tenant")
    expect(page.locator("#lane")).to_contain_text("(paused)")
    page.locator("#paused").get_by_role("link").click()
    page.locator("#pauses tr", has_text=PING).get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text(f"{PING} resumed")
    expect(page.locator("#pauses")).to_contain_text("Nothing is paused")
    pings.settle()
    assert status(pings.runtime, held) == "finished"
