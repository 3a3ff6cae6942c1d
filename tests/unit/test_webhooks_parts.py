"""The webhooks domain's pure parts: which URLs deliveries may go to, signatures (checked
by the `standardwebhooks` package), sealed secrets, and the retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from policyjobs.engine import JobKind
from policyjobs.webhooks import addresses, retries, signing
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
