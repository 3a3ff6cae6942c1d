"""`serve --processes`: the sockets it listens on, and how long a place waits before a
process that keeps crashing starts again."""

from __future__ import annotations

import socket

import pytest

from policyjobs.serving import bound_sockets, restart_pause


def test_a_process_that_keeps_dying_young_is_restarted_after_a_doubling_pause() -> None:
    pauses = [restart_pause(crashes) for crashes in range(9)]

    assert pauses == [0, 0, 1, 2, 4, 8, 16, 30, 30]


def test_its_own_processes_share_one_port() -> None:
    sockets = bound_sockets("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_one_process_binds_without_sharing_and_takes_no_connection_yet() -> None:
    """Bound before the store opens, which may wait for PostgreSQL: until the server runs,
    a client is refused at once rather than left hanging in a backlog."""
    [sock] = bound_sockets("127.0.0.1", 0, 1)
    with sock:
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(sock.getsockname()[:2], timeout=5).close()


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuseport"])
def test_a_port_another_server_listens_on_is_refused(count: int, reuse_port: bool) -> None:
    """Also when that server's sockets have `SO_REUSEPORT`, as another `serve --processes`
    does: the kernel would let ours join it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        if reuse_port:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError, match="Address already in use"):
            bound_sockets("127.0.0.1", other.getsockname()[1], count)
