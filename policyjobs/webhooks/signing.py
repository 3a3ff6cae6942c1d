"""Standard Webhooks signatures: `whsec_` secrets and the `webhook-*` headers of a delivery.

A secret is `whsec_` and the base64 of 32 random bytes. A delivery is signed with each
secret its endpoint holds (two while a rotation's old secret is still honoured): the base64
HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` under the secret's bytes, written
`v1,<signature>` and separated by spaces in `webhook-signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
KEY_BYTES = 32


def new_secret() -> str:
    """A fresh secret, as an endpoint's owner is shown it once."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The bytes a secret signs with."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a delivery."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: Sequence[str], message_id: str, timestamp: int,
            body: bytes) -> dict[str, str]:
    """The headers that sign a delivery with every one of `secrets_`."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body)
                                      for s in secrets_),
    }
