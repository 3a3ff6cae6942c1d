"""How far ahead of its free threads a worker claims: a batch of quick jobs, a few slow ones."""

from __future__ import annotations

from policyjobs.engine.worker import ClaimAhead


def test_before_any_job_ends_it_claims_one_per_thread() -> None:
    assert ClaimAhead(concurrency=8, batch_size=100).jobs == 8
    assert ClaimAhead(concurrency=8, batch_size=5).jobs == 5


def test_quick_jobs_are_claimed_a_whole_batch_ahead() -> None:
    ahead = ClaimAhead(concurrency=8, batch_size=100)
    for _ in range(20):
        ahead.observe(0.00002)
    assert ahead.jobs == 100


def test_slow_jobs_are_claimed_one_or_two_ahead() -> None:
    ahead = ClaimAhead(concurrency=8, batch_size=100)
    for _ in range(20):
        ahead.observe(0.5)  # a render
    assert ahead.jobs == 1
    for _ in range(40):
        ahead.observe(0.005)  # then the queue turns to quick jobs again
    assert 75 <= ahead.jobs <= 80  # 8 threads * 0.05 s / 0.005 s, as the mean settles


def test_the_mean_follows_recent_durations() -> None:
    ahead = ClaimAhead(concurrency=2, batch_size=1000)
    ahead.observe(1.0)
    ahead.observe(0.0)
    assert ahead.jobs == 1  # one quick job does not undo the slow ones at once
    ahead.observe(0.0)
    assert 1 <= ahead.jobs < 1000
