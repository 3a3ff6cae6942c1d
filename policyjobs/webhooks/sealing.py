"""Endpoints' secrets at rest: sealed (encrypted and authenticated) under the service's key.

A webhook secret must be read back to sign each delivery, so it cannot be hashed; it is
sealed with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived
from `POLICYJOBS_SECRET_KEY`, or, when that is unset, from a random key kept in
`<home>/secret.key` (made on first use, readable by its owner only), which suits one
machine. Every process that delivers must hold the same key: each sealed secret records
which key sealed it (`key_id`, a digest that reveals nothing of the key), and a process
holding another key says so instead of signing with a wrong secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from policyjobs.exceptions import PolicyjobsError

KEY_FILE = "secret.key"


class WrongKey(PolicyjobsError):
    """A secret was sealed under another key than this process holds."""


class Sealer:
    """Seals and opens secrets under one service key."""

    def __init__(self, material: bytes) -> None:
        derived = hashlib.sha256(b"policyjobs webhook secrets\x00" + material).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.key_id = hmac.new(material, b"policyjobs key id", hashlib.sha256).hexdigest()[:16]

    @classmethod
    def of(cls, configured: str | None, home: Path) -> Sealer:
        """The sealer of the configured key, or of the key kept under `home`."""
        if configured:
            return cls(configured.encode())
        return cls(_kept_key(home / KEY_FILE))

    def seal(self, secret: str) -> str:
        """The secret, sealed."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str, key_id: str) -> str:
        """The secret `sealed` holds, sealed under the key `key_id` names."""
        if key_id != self.key_id:
            raise WrongKey(f"this webhook secret was sealed under key {key_id}, and this "
                           f"process holds key {self.key_id}: give every process the same "
                           "POLICYJOBS_SECRET_KEY")
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise WrongKey("a webhook secret does not open under this process's key") from None


def _kept_key(path: Path) -> bytes:
    """The key in `path`, made (readable by its owner only) if there is none yet. A new key
    is written whole to a file of its own, then linked into place: a process that loses
    the race to make it reads the winner's, never half of it."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(secrets.token_hex(32).encode())
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
