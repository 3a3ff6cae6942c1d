"""Personal access tokens: made once, stored as hashes, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import new_locator
from policyjobs.exceptions import InvalidInput, NotFound, Unauthenticated
from policyjobs.security import permissions as perms
from policyjobs.security.models import tokens
from policyjobs.tenants.models import tenants as tenants_table
from policyjobs.tenants.service import tenant_locator

ANY_TENANT = "any"
_PREFIX = "pjt"
# Compared against when the token id is unknown, so a miss costs what a hit costs.
_DECOY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a verified token: its user, tenants and permissions."""

    token_id: str
    user_id: str
    tenants: frozenset[str] | None  # None: every tenant
    permissions: frozenset[str]
    expires_at: datetime | None = None

    def holds_tenant(self, tenant: str) -> bool:
        """Whether the token names `tenant`, or any tenant."""
        return self.tenants is None or tenant in self.tenants

    def may(self, group: str, action: str) -> bool:
        """Whether the token grants `action` in `group`."""
        return perms.grants(self.permissions, group, action)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: everything but its secret."""

    id: str
    user_id: str
    tenants: list[str]
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(conn: sa.Connection, *, tenants: list[str], permissions: list[str],
                 known: Collection[str], now: datetime, expires_at: datetime | None = None,
                 user_id: str | None = None) -> tuple[str, TokenRecord]:
    """Make a token holding `permissions`, each `admin` or one of `known`; its text is
    returned now and never again."""
    if not permissions:
        raise InvalidInput("a token needs at least one permission")
    if bad := perms.unknown(permissions, known):
        listed = ", ".join(sorted({perms.ADMIN, *known}))
        raise InvalidInput(f"unknown permissions {', '.join(bad)}; known: {listed}")
    if not tenants:
        raise InvalidInput(f"a token needs a tenant UUID or {ANY_TENANT!r}")
    if tenants != [ANY_TENANT]:
        tenants = [tenant_locator(t, "tenant") for t in tenants]
        found = set(conn.execute(
            sa.select(tenants_table.c.locator).where(tenants_table.c.locator.in_(tenants))
        ).scalars())
        if missing := [t for t in tenants if t not in found]:
            raise NotFound(f"no tenant {', '.join(missing)}")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("a token cannot expire in the past")
    record = TokenRecord(
        id=new_locator(), user_id=user_id or str(uuid.uuid4()), tenants=tenants,
        permissions=sorted(set(permissions)), created_at=now, expires_at=expires_at,
        revoked_at=None,
    )
    secret = secrets.token_urlsafe(32)
    conn.execute(tokens.insert().values(
        id=record.id, secret_hash=_hash(secret), user_id=record.user_id, tenants=record.tenants,
        permissions=record.permissions, created_at=now, expires_at=expires_at,
    ))
    return f"{_PREFIX}_{record.id}_{secret}", record


def verify_token(conn: sa.Connection, text: str, now: datetime) -> Principal:
    """The principal of a token, or `Unauthenticated`."""
    prefix, _, rest = text.partition("_")
    token_id, _, secret = rest.partition("_")
    row = None
    if prefix == _PREFIX and len(token_id) == 26 and secret:
        row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
    expected = row.secret_hash if row else _DECOY_HASH
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        raise Unauthenticated("the bearer token is not valid")
    if row.revoked_at is not None:
        raise Unauthenticated("the bearer token was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("the bearer token has expired")
    tenant_list: list[str] = row.tenants
    return Principal(
        token_id=row.id, user_id=row.user_id,
        tenants=None if tenant_list == [ANY_TENANT] else frozenset(tenant_list),
        permissions=frozenset(row.permissions), expires_at=row.expires_at,
    )


class VerifiedTokens:
    """Tokens verified in the last `ttl`, so a busy API does not read the token table on
    every request. A token revoked in the store stops working here within `ttl`; an
    expired one at once. Keys are the tokens' SHA-256 hashes, never the tokens.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl.total_seconds()
        self._found: dict[bytes, tuple[Principal, float]] = {}

    def get(self, text: str, now: datetime) -> Principal | None:
        """The principal of `text` if it was verified lately and has not expired since."""
        key = hashlib.sha256(text.encode()).digest()
        found = self._found.get(key)
        if found is None:
            return None
        principal, until = found
        expired = principal.expires_at is not None and principal.expires_at <= now
        if expired or time.monotonic() >= until:
            self._found.pop(key, None)
            return None
        return principal

    def put(self, text: str, principal: Principal) -> None:
        """Remember that `text` verified as `principal`."""
        if self._ttl <= 0:
            return
        if len(self._found) >= self.MAX_ENTRIES:
            self._found.clear()
        key = hashlib.sha256(text.encode()).digest()
        self._found[key] = (principal, time.monotonic() + self._ttl)


def list_tokens(conn: sa.Connection) -> list[TokenRecord]:
    """Every token, oldest first."""
    rows = conn.execute(sa.select(tokens).order_by(tokens.c.id)).all()
    return [_record(row._mapping) for row in rows]


def revoke_token(conn: sa.Connection, token_id: str, now: datetime) -> TokenRecord:
    """Revoke a token; revoking twice keeps the first time."""
    row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=now))
    return _record({**row._mapping, "revoked_at": row.revoked_at or now})


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row["id"], user_id=row["user_id"], tenants=list(row["tenants"]),
        permissions=list(row["permissions"]), created_at=row["created_at"],
        expires_at=row["expires_at"], revoked_at=row["revoked_at"],
    )
