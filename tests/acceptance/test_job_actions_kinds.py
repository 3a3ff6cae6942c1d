"""What an operator's retry and cancel mean for each kind whose jobs the domain must know
of: a delinquency's grace and event jobs (a retry after the delinquency settled or was held
does nothing and says so; a cancel is the vendor's cancellation) and an installments job
(not retried out of its chain's order). A webhook delivery's are in `test_webhooks`, the
engine's own meaning in `test_job_actions`."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from tests.acceptance.test_delinquency import Collections
from tests.acceptance.test_webhooks import dashboard
from tests.support.engine_domain import fail_for_good, status
from tests.support.http import MakeToken
from tests.support.operations import act


@pytest.fixture
def books(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Collections:
    """A delinquency in grace since 2027-01-01 (ending 2027-01-31), its events pending."""
    return Collections(client, runtime, make_token)


def test_a_failed_event_job_retried_fires_and_one_retried_after_settlement_says_so(
        books: Collections) -> None:
    jobs = books.event_jobs()
    reminder, final = jobs["reminder"]["locator"], jobs["finalNotice"]["locator"]
    for job in (reminder, final):
        fail_for_good(books.runtime, job)
    assert act(books, "retry", reminder)["acted"] == 1
    books.move_to("2027-01-10T12:00:00Z")  # past the reminder's trigger
    assert books.event_jobs()["reminder"]["jobStatus"] == "finished"
    events = {e["name"]: e for e in books.get(f"delinquencies/{books.locator}/events/list")[
        "items"]}
    assert events["reminder"]["delinquencyEventState"] == "triggered"

    books.pay_invoice()
    assert books.state() == "settled"
    done = act(books, "retry", final)
    assert (done["acted"], done["skipped"]) == (
        0, {"the delinquency settled: nothing to do": 1})
    assert status(books.runtime, final) == "failed"


def test_a_grace_job_retried_after_a_hold_does_not_lapse_the_delinquency(
        books: Collections) -> None:
    [grace] = books.grace_jobs()
    fail_for_good(books.runtime, grace["locator"])
    books.send({"type": "delinquencyHold", "delinquencyLocator": books.locator})
    done = act(books, "retry", grace["locator"])
    assert done["skipped"] == {"the delinquency is held: its grace no longer ends": 1}
    # Even run again by the engine's own requeue, the job lapses nothing: it checks.
    with books.runtime.db.begin() as conn:
        assert books.runtime.queue.requeue(conn, [grace["locator"]])
    books.move_to("2027-02-01T12:00:00Z")
    assert books.state() == "inGrace"
    assert status(books.runtime, grace["locator"]) == "finished"


def test_cancelling_the_grace_job_holds_the_delinquency_and_cancels_its_events(
        books: Collections) -> None:
    [grace] = books.grace_jobs()
    assert act(books, "cancel", grace["locator"])["acted"] == 1
    books.move_to("2027-02-01T12:00:00Z")
    assert books.state() == "inGrace"  # held: it never lapses
    jobs = books.event_jobs()
    assert {(j["cancelled"], j["cancellationType"]) for j in jobs.values()} == {
        (True, "cancellationRequested")}
    assert status(books.runtime, grace["locator"]) == "cancelled"
    held = books.send({"type": "delinquencyHold", "delinquencyLocator": books.locator},
                      status=409)
    assert "held" in str(held)


def test_cancelling_an_event_job_is_the_vendors_cancellation_of_the_event(
        books: Collections) -> None:
    final = books.event_jobs()["finalNotice"]["locator"]
    assert act(books, "cancel", final)["acted"] == 1
    job = books.event_jobs()["finalNotice"]
    assert (job["cancelled"], job["cancellationType"]) == (True, "cancellationRequested")
    events = {e["name"]: e for e in books.get(f"delinquencies/{books.locator}/events/list")[
        "items"]}
    assert events["finalNotice"]["delinquencyEventState"] == "cancelled"
    again = act(books, "cancel", final)
    assert again["skipped"] == {"already ended: cancelled": 1}



def test_a_jobs_page_links_its_reference_to_what_the_api_shows_of_it(
        books: Collections, make_token: MakeToken) -> None:
    [grace] = books.grace_jobs()
    reader = make_token(books.tenant, "jobs.read", "delinquencies.read")
    page = dashboard(books, reader, f"/jobs/{grace['locator']}")
    links = dict(re.findall(r'<a href="(/dashboard/view\?[^"]+)">(\w+)</a>', page.text))
    assert sorted(links.values()) == ["delinquency", "events"]
    view = next(url for url, label in links.items() if label == "delinquency")
    [api] = parse_qs(urlsplit(html.unescape(view)).query)["api"]
    assert api == f"/billing/{books.tenant}/delinquencies/{books.locator}"
    shown = dashboard(books, reader, "/view", api=api)
    assert shown.status_code == 200
    assert f'"locator": "{books.locator}"' in html.unescape(shown.text)
    assert '"delinquencyState": "inGrace"' in html.unescape(shown.text)
    # What the token may not read through the API, it may not read here either.
    refused = dashboard(books, make_token(books.tenant, "jobs.read"), "/view", api=api)
    assert "(403)" in refused.text
    elsewhere = dashboard(books, reader, "/view", api="/admin/audit/list")
    assert elsewhere.status_code == 400
