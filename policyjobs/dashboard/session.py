"""The dashboard's session: the token in a cookie, and the CSRF tokens of its forms.

The session cookie holds the personal access token itself, HttpOnly and SameSite=Strict
(and Secure over https). A form that changes something carries a CSRF token derived from
the session (an HMAC of a fixed message under the token), so another site cannot post it;
the login form, before any session, carries a random one that a cookie must match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION = "policyjobs_session"
LOGIN_CSRF = "policyjobs_login_csrf"


def csrf_for(token: str) -> str:
    """The CSRF token of the forms of the session of `token`."""
    return hmac.new(token.encode(), b"policyjobs dashboard form", hashlib.sha256).hexdigest()


def csrf_matches(given: str | None, expected: str) -> bool:
    """Whether a form's CSRF token is the expected one, compared in constant time."""
    return given is not None and hmac.compare_digest(given, expected)


def new_login_csrf() -> str:
    """A random CSRF token for a login form."""
    return secrets.token_urlsafe(24)
