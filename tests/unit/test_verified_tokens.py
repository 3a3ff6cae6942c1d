"""Tests of the cache of lately verified tokens."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from policyjobs.security.tokens import Principal, VerifiedTokens

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def principal(expires_at: datetime | None = None) -> Principal:
    """A principal of one tenant."""
    return Principal(token_id="T", user_id="U", tenants=frozenset({"t"}),
                     permissions=frozenset({"jobs.read"}), expires_at=expires_at)


def test_a_verified_token_is_found_again_and_others_are_not() -> None:
    cache = VerifiedTokens(timedelta(seconds=60))
    cache.put("pjt_a_secret", principal())
    assert cache.get("pjt_a_secret", NOW) == principal()
    assert cache.get("pjt_a_other", NOW) is None


def test_entries_last_only_their_ttl() -> None:
    cache = VerifiedTokens(timedelta(milliseconds=50))
    cache.put("pjt_a_secret", principal())
    time.sleep(0.06)
    assert cache.get("pjt_a_secret", NOW) is None


def test_a_token_expiring_meanwhile_is_not_served() -> None:
    cache = VerifiedTokens(timedelta(seconds=60))
    cache.put("pjt_a_secret", principal(expires_at=NOW + timedelta(seconds=1)))
    assert cache.get("pjt_a_secret", NOW) is not None
    assert cache.get("pjt_a_secret", NOW + timedelta(seconds=1)) is None


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache = VerifiedTokens(timedelta(0))
    cache.put("pjt_a_secret", principal())
    assert cache.get("pjt_a_secret", NOW) is None


def test_the_cache_never_holds_token_text() -> None:
    cache = VerifiedTokens(timedelta(seconds=60))
    cache.put("pjt_a_secret", principal())
    assert "pjt_a_secret" not in repr(vars(cache)) + repr(cache._found)
