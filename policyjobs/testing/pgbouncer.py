"""Start and stop a PgBouncer in front of a throwaway PostgreSQL server, for tests.

PgBouncer refuses to run as root, so as root it runs as the server's own OS user. Its
binary is `POLICYJOBS_PGBOUNCER`, or `pgbouncer` on the PATH (Debian's package puts it in
/usr/sbin); `scripts/pgbouncer` installs that package where it is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from policyjobs.testing.postgres import PostgresServer, free_port, give_to, privilege_drop
from policyjobs.testing.processes import alive

_START_TIMEOUT_SECONDS = 20.0
_STOP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer started by `start_pgbouncer`, passing every database through."""

    directory: Path
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` through this pooler."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        """Stop PgBouncer and remove its folder."""
        pidfile = self.directory / "pgbouncer.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it has stopped
        shutil.rmtree(self.directory, ignore_errors=True)


def find_pgbouncer() -> Path:
    """The PgBouncer binary to run, or an error that says how to get one."""
    named = os.environ.get("POLICYJOBS_PGBOUNCER")
    if named:
        if not os.access(named, os.X_OK):
            raise RuntimeError(f"POLICYJOBS_PGBOUNCER={named} is not an executable")
        return Path(named)
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin"
    found = shutil.which("pgbouncer", path=path)
    if found is None:
        raise RuntimeError("no PgBouncer on this machine: run `bash scripts/pgbouncer` (Debian's "
                           "pgbouncer package), or set POLICYJOBS_PGBOUNCER to its binary")
    return Path(found)


def start_pgbouncer(server: PostgresServer, *, pool_mode: str = "session") -> PgBouncer:
    """A PgBouncer on a free port of `server.host` that passes any database name through
    to `server`, pooling in `pool_mode`."""
    binary = find_pgbouncer()
    directory = Path(tempfile.mkdtemp(prefix="policyjobs-pgbouncer-"))
    directory.chmod(0o755)
    give_to(directory, server.os_user)
    port = free_port()
    (directory / "users.txt").write_text(f'"{server.user}" ""\n')
    (directory / "pgbouncer.ini").write_text("\n".join((
        "[databases]",
        f"* = host={server.host} port={server.port}",
        "[pgbouncer]",
        f"listen_addr = {server.host}",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {directory / 'users.txt'}",
        f"pool_mode = {pool_mode}",
        "max_client_conn = 1000",
        "default_pool_size = 100",  # session mode: a server connection per client
        f"logfile = {directory / 'pgbouncer.log'}",
        f"pidfile = {directory / 'pgbouncer.pid'}",
        "",
    )))
    for made in directory.iterdir():
        give_to(made, server.os_user)
    command = [str(binary), "-d", str(directory / "pgbouncer.ini")]
    if server.os_user is not None:
        command = [*privilege_drop(server.os_user), *command]
    started = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                             stdin=subprocess.DEVNULL)
    bouncer = PgBouncer(directory, server.host, port, server.user)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"PgBouncer failed to start: {started.stderr.strip()}")
        _wait_until_it_answers(bouncer)
    except BaseException:
        log = directory / "pgbouncer.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        bouncer.stop()
        if tail:
            raise RuntimeError(f"PgBouncer did not answer; its log ends:\n{tail}") from None
        raise
    return bouncer


def _wait_until_it_answers(bouncer: PgBouncer) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while True:
        try:
            with psycopg.connect(host=bouncer.host, port=bouncer.port, user=bouncer.user,
                                 dbname="postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
