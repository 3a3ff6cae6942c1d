"""Which failures to reach PostgreSQL a starting process waits out, and which it reports."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors

from policyjobs.store.migrate import store_away

REFUSED = ('connection failed: connection to server at "127.0.0.1", port 5432 failed: '
           "Connection refused\n\tIs the server running on that host?")


def wrapped(orig: Exception) -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize("orig", [
    psycopg.OperationalError(REFUSED),
    psycopg.OperationalError("connection failed: ... FATAL:  the database system is "
                             "starting up"),
    psycopg.OperationalError("connection failed: ... FATAL:  the database system is "
                             "shutting down"),
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.CannotConnectNow("the database system is in recovery mode"),
])
def test_a_server_on_its_way_down_or_up_is_away(orig: Exception) -> None:
    assert store_away(wrapped(orig))


@pytest.mark.parametrize("orig", [
    psycopg.OperationalError('connection failed: ... FATAL:  database "nope" does not exist'),
    psycopg.OperationalError('connection failed: ... FATAL:  password authentication failed '
                             'for user "policyjobs"'),
    errors.InsufficientPrivilege("permission denied for table jobs"),
])
def test_a_wrong_name_password_or_grant_is_not(orig: Exception) -> None:
    assert not store_away(wrapped(orig))


def test_an_error_of_the_statement_is_not() -> None:
    assert not store_away(sa.exc.IntegrityError("INSERT", {}, errors.UniqueViolation("dup")))
