"""The webhooks domain's pure parts: which URLs deliveries may go to, signatures (checked
by the `standardwebhooks` package), sealed secrets, and the retry schedule."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from policyjobs.engine import JobKind
from policyjobs.webhooks import addresses, retries, signing
from policyjobs.webhooks.delivery import Throttle
from policyjobs.webhooks.sealing import Sealer, WrongKey

STRICT, OPEN = addresses.Rules(), addresses.Rules(allow_http=True, allow_private=True)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/in", "https://localhost:8443/in", "https://[::1]/in",
    "https://10.0.0.8/in", "https://192.168.1.1/in", "https://172.16.5.4/in",
    "https://169.254.169.254/latest/meta-data", "https://100.64.0.1/in",
    "https://[fd00:ec2::254]/in", "https://[::ffff:127.0.0.1]/in", "https://0.0.0.0/in",
    "https://224.0.0.1/in",
])
def test_addresses_outside_the_public_internet_are_refused(url: str) -> None:
    with pytest.raises(addresses.Refused, match="public addresses only"):
        addresses.check(url, STRICT)
    addresses.check(url, OPEN)


@pytest.mark.parametrize(("url", "says"), [
    ("http://8.8.8.8/in", "must use https"), ("/in", "absolute"), ("8.8.8.8/in", "absolute"),
    ("mailto:a@example.com", "absolute"), ("https://", "absolute"),
    ("https://8.8.8.8:99999/in", "not valid"), ("https://8.8.8.8/a b", "spaces"),
    ("https://8.8.8.8/" + "a" * 2048, "longer than"),
])
def test_a_url_that_is_not_absolute_https_is_refused(url: str, says: str) -> None:
    with pytest.raises(addresses.Refused, match=says):
        addresses.check(url, STRICT)


def test_a_public_address_passes_and_a_name_that_does_not_resolve_does_not() -> None:
    addresses.check("https://8.8.8.8/hooks?x=1", STRICT)
    addresses.check("https://[2606:4700:4700::1111]/in", STRICT)
    with pytest.raises(addresses.Refused, match="does not resolve"):
        addresses.check("https://no-such-host.invalid/in", STRICT)


def test_signatures_verify_with_the_standard_webhooks_package() -> None:
    secret, other = signing.new_secret(), signing.new_secret()
    body = b'{"id":"01J","type":"documents.job.finished"}'
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers([secret, other], "01J", now, body)
    assert Webhook(secret).verify(body, headers) == {"id": "01J",
                                                      "type": "documents.job.finished"}
    Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_a_sealed_secret_opens_only_under_its_key(tmp_path: Path) -> None:
    sealer = Sealer.of(None, tmp_path)
    secret = signing.new_secret()
    sealed = sealer.seal(secret)
    assert secret not in sealed
    assert Sealer.of(None, tmp_path).open(sealed, sealer.key_id) == secret  # the kept key
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    configured = Sealer.of("a key shared by every process", tmp_path)
    with pytest.raises(WrongKey, match="POLICYJOBS_SECRET_KEY"):
        configured.open(sealed, sealer.key_id)
    assert configured.open(configured.seal(secret), configured.key_id) == secret


def test_deliveries_retry_on_the_schedule_and_endpoints_are_given_up_after_five_days() -> None:
    kind = JobKind("webhooks.deliver", print, max_attempts=retries.ATTEMPTS,
                   retry_delays=retries.DELAYS)
    for attempt, delay in enumerate(retries.DELAYS, start=1):
        for _ in range(20):
            assert delay * 0.9 <= kind.backoff(attempt) <= delay * 1.1
    assert retries.ATTEMPTS == 8
    assert sum(retries.DELAYS, timedelta()) == timedelta(hours=27, minutes=35, seconds=5)
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert not retries.gives_up(start, start + timedelta(days=5) - timedelta(seconds=1))
    assert retries.gives_up(start, start + timedelta(days=5))


def test_a_delivery_waits_briefly_for_a_busy_endpoint_and_never_for_a_stuck_one() -> None:
    throttle = Throttle(most=1, stuck=1)
    throttle.STUCK = 0.2
    got: list[str | None] = []
    with throttle.slot("e") as first:
        assert first is None
        waiter = threading.Thread(target=lambda: got.append(take(throttle, "e")))
        waiter.start()
        time.sleep(0.05)
        assert got == []  # waiting for the slot, not turned away
    waiter.join(2)
    assert got == [None]  # it went once the first delivery was done
    with throttle.slot("e"):
        time.sleep(0.3)  # now it has waited past STUCK for an answer
        started = time.monotonic()
        with throttle.slot("e") as refused:
            assert refused is not None
            assert "waited over" in refused
        assert time.monotonic() - started < 0.1  # turned away at once
        with throttle.slot("other") as free:
            assert free is None  # other endpoints are not held up


def take(throttle: Throttle, endpoint: str) -> str | None:
    with throttle.slot(endpoint) as refused:
        return refused
