"""The pure parts of operators' actions: a job's attempts as its page lists them, what a
filter takes, and a bulk action's filter as recorded and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from policyjobs.engine.listing import Attempt, attempts
from policyjobs.engine.selection import JobFilter, statuses
from policyjobs.operations.bulk import filter_of, written

T0 = datetime(2027, 1, 1, 5, tzinfo=UTC)
T1 = datetime(2027, 1, 1, 6, tzinfo=UTC)


def job(**fields: object) -> SimpleNamespace:
    row = {"errors": [], "attempt": 0, "status": "queued", "started_at": None,
           "finished_at": None, "lease_owner": None}
    return SimpleNamespace(**{**row, **fields})


def test_a_job_never_run_has_no_attempt() -> None:
    assert attempts(job()) == []


def test_failed_attempts_come_from_their_entries_either_store_wrote() -> None:
    errors = [{"attempt": 1, "at": "2027-01-01T05:00:01+00:00", "error": "boom",
               "startedAt": "2027-01-01T05:00:00+00:00", "worker": "host:1:a"},
              {"attempt": 2, "at": "2027-01-01T06:00:01+00:00", "error": "boom again",
               "startedAt": "2027-01-01 06:00:00.000000", "worker": "host:2:b"}]
    found = attempts(job(errors=errors, attempt=2, status="failed", started_at=T1,
                         finished_at=T1))
    assert found == [
        Attempt(1, T0, datetime(2027, 1, 1, 5, 0, 1, tzinfo=UTC), "host:1:a", "boom"),
        Attempt(2, T1, datetime(2027, 1, 1, 6, 0, 1, tzinfo=UTC), "host:2:b", "boom again")]


def test_the_attempt_running_or_that_succeeded_follows_the_failed_ones() -> None:
    failed = [{"attempt": 1, "at": "2027-01-01T05:00:01+00:00", "error": "boom"}]
    running = attempts(job(errors=failed, attempt=2, status="leased", started_at=T1,
                           lease_owner="host:3:c"))
    assert running[-1] == Attempt(2, T1, None, "host:3:c", None)
    assert running[0].started is None  # an entry written before attempts kept their start
    done = attempts(job(errors=failed, attempt=2, status="finished", started_at=T1,
                        finished_at=T1))
    assert done[-1] == Attempt(2, T1, T1, None, None)


def test_a_filter_that_names_nothing_takes_everything() -> None:
    assert JobFilter().everything
    assert not JobFilter(status="failed").everything
    assert not JobFilter(locators=("A",)).everything


def test_a_status_takes_what_the_dashboards_list_takes() -> None:
    assert statuses("running") == ("queued", "blocked", "leased", "waiting")
    assert statuses("finished") == ("finished", "cancelled")
    assert statuses("blocked") == ("blocked",)


def test_a_recorded_filter_reads_back_as_asked() -> None:
    asked = {"tenantLocator": "00000000-0000-4000-8000-000000000001", "kind": "documents",
             "status": "failed", "referenceLocator": "Q-1",
             "createdAfter": "2027-01-01T05:00:00Z", "createdBefore": "2027-01-01T06:00:00Z",
             "jobLocators": ["J-1"]}
    assert filter_of(asked) == JobFilter(
        tenant="00000000-0000-4000-8000-000000000001", kind="documents", status="failed",
        reference="Q-1", created_after=T0, created_before=T1, locators=("J-1",))
    assert filter_of({}) == JobFilter()
    assert written(filter_of(asked)) == asked  # what is recorded is what was asked
