"""Job kinds' retry policy and the registry, without a store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policyjobs.engine import JobContext, JobKind, Registry, public_status
from policyjobs.engine.errors import UnknownJobKind


def handler(_context: JobContext) -> None:
    """A handler never called here."""


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_backoff_doubles_per_attempt_with_jitter_of_up_to_a_half(attempt: int) -> None:
    kind = JobKind("k", handler, backoff_base=timedelta(milliseconds=50))
    ceiling = timedelta(milliseconds=50) * 2 ** (attempt - 1)
    for _ in range(200):
        assert ceiling / 2 <= kind.backoff(attempt) <= ceiling


def test_backoff_is_capped() -> None:
    kind = JobKind("k", handler, backoff_base=timedelta(seconds=1),
                   backoff_cap=timedelta(seconds=10))
    assert all(kind.backoff(30) <= timedelta(seconds=10) for _ in range(100))


def test_registry_rejects_a_kind_registered_twice() -> None:
    registry = Registry()
    registry.register(JobKind("k", handler))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(JobKind("k", handler))


def test_registry_defaults_for_known_and_unknown_kinds() -> None:
    registry = Registry()
    registry.register(JobKind("k", handler, max_attempts=7))
    assert (registry.default_max_attempts("k"), registry.default_max_attempts("x")) == (7, 1)
    with pytest.raises(UnknownJobKind):
        registry.kind("x")


@pytest.mark.parametrize(("status", "public"), [
    ("queued", "running"), ("leased", "running"), ("waiting", "running"),
    ("finished", "finished"), ("cancelled", "finished"), ("failed", "failed"),
])
def test_public_status(status: str, public: str) -> None:
    assert public_status(status) == public
