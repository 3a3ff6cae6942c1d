"""A thread that listens on a PostgreSQL connection (`policyjobs.engine.listener.heard`):
woken by a notice, by one that came while a statement ran, and by its stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from policyjobs.engine.listener import Stop, heard

QUIET = 60.0  # a wait on a quiet connection that no test waits out


@pytest.fixture
def connections(postgres_url: str) -> Iterator[tuple[psycopg.Connection[Any],
                                                     psycopg.Connection[Any]]]:
    """A connection listening on `here`, and another to notify it."""
    dsn = sa.make_url(postgres_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as listening, \
            psycopg.connect(dsn, autocommit=True) as telling:
        listening.execute("LISTEN here")
        yield listening, telling


def test_a_notice_ends_the_wait(connections: tuple[psycopg.Connection[Any],
                                                   psycopg.Connection[Any]]) -> None:
    listening, telling = connections
    assert heard_soon(listening, Stop(), then=lambda: telling.execute("NOTIFY here, 'a'")) \
        == ["a"]


def test_a_notice_that_came_during_a_statement_is_heard_at_once(
        connections: tuple[psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    listening, telling = connections
    telling.execute("NOTIFY here, 'b'")
    listening.execute("SELECT pg_sleep(0.1)")  # reads the notice; the socket is quiet after
    assert heard_soon(listening, Stop()) == ["b"]


def test_a_stop_ends_a_wait_on_a_quiet_connection(
        connections: tuple[psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    listening, _ = connections
    stop = Stop()
    assert heard_soon(listening, stop, then=stop.set) == []
    assert heard_soon(listening, stop) == []  # stopped: it no longer waits
    stop.close()


def test_a_lost_connection_raises(connections: tuple[psycopg.Connection[Any],
                                                     psycopg.Connection[Any]]) -> None:
    listening, telling = connections
    telling.execute("SELECT pg_terminate_backend(%s)", (listening.info.backend_pid,))
    stop = Stop()

    def hear_thrice() -> None:  # the server's farewell, then the closed socket
        for _ in range(3):
            heard(listening, stop, QUIET)

    with pytest.raises(psycopg.OperationalError):
        hear_thrice()


def heard_soon(conn: psycopg.Connection[Any], stop: Stop,
               then: Callable[[], object] = lambda: None) -> list[str]:
    """The payloads `heard` returns, waiting on a quiet connection for a minute, when it is
    called in a thread and `then` is done; fails if it is still waiting 10 s later."""
    got: list[str] = []
    waiting = threading.Thread(
        target=lambda: got.extend(n.payload for n in heard(conn, stop, QUIET)))
    waiting.start()
    time.sleep(0.2)  # for it to be waiting on the socket
    then()
    waiting.join(timeout=10)
    assert not waiting.is_alive(), "still waiting"
    return got
