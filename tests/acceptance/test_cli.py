"""The `policyjobs` command, run as a user runs it: a real process over a real store."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from policyjobs.security.tokens import verify_token
from policyjobs.store.database import open_store
from policyjobs.testing.postgres import PostgresServer, free_port
from policyjobs.testing.processes import children_of, command_line

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Cli:
    """Runs `python -m policyjobs` against one store."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.env = {**os.environ, "POLICYJOBS_DATABASE_URL": database_url,
                    "POLICYJOBS_HOME": str(home)}
        self.url = database_url

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "policyjobs", *args], env=self.env,
                                capture_output=True, text=True, timeout=60, check=False)
        if ok:
            assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def cli(empty_database_url: str, tmp_path: Path) -> Cli:
    """The command line over a fresh store, never migrated."""
    return Cli(empty_database_url, tmp_path)


def test_tenant_create_prints_only_the_uuid(cli: Cli) -> None:
    out = cli("tenant", "create").stdout
    assert UUID.match(out.strip()), out
    assert out.count("\n") == 1


def test_tenant_create_takes_the_example_configuration(cli: Cli) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml"
    assert UUID.match(cli("tenant", "create", "--config", str(example)).stdout.strip())


def test_a_bad_configuration_names_its_field(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\ndocuments: {timeoutSeconds: -1}\n")
    result = cli("tenant", "create", "--config", str(bad), ok=False)
    assert result.returncode == 2
    assert "timezone" in result.stderr
    assert "documents.timeoutSeconds" in result.stderr
    assert result.stdout == ""


def test_token_create_prints_only_a_token_that_verifies(cli: Cli) -> None:
    tenant = cli("tenant", "create").stdout.strip()
    out = cli("token", "create", "--tenant", tenant, "--permissions",
              "documents.read,jobs.read", "--expires-in", "30d").stdout
    token = out.strip()
    assert out.count("\n") == 1
    assert token.startswith("pjt_")
    db = open_store(cli.url)
    try:
        with db.connect() as conn:
            principal = verify_token(conn, token, datetime.now(UTC))
        assert principal.tenants == frozenset({tenant})
        assert principal.permissions == frozenset({"documents.read", "jobs.read"})
    finally:
        db.dispose()


def test_token_errors_are_clear(cli: Cli) -> None:
    tenant = cli("tenant", "create").stdout.strip()
    unknown = cli("token", "create", "--tenant", tenant, "--permissions", "jobs.fly", ok=False)
    assert unknown.returncode == 2
    assert "jobs.fly" in unknown.stderr
    missing = cli("token", "create", "--tenant", "3f0c5a8e-8a7e-4a36-9a3a-1f2f0c3f9b11",
                  "--permissions", "jobs.read", ok=False)
    assert missing.returncode == 2
    assert "no tenant" in missing.stderr
    duration = cli("token", "create", "--tenant", "any", "--permissions", "jobs.read",
                   "--expires-in", "soon", ok=False)
    assert duration.returncode == 2
    assert "duration" in duration.stderr


def test_token_list_and_revoke(cli: Cli) -> None:
    token = cli("token", "create", "--tenant", "any", "--permissions", "admin").stdout.strip()
    _, token_id, secret = token.split("_", 2)  # the secret itself may hold "_"
    assert token_id in cli("token", "list").stdout
    assert secret not in cli("token", "list").stdout  # never the secret
    cli("token", "revoke", token_id)
    db = open_store(cli.url)
    try:
        with db.connect() as conn:
            row = conn.execute(sa.text("SELECT revoked_at FROM tokens")).one()
        assert row[0] is not None
    finally:
        db.dispose()
    assert cli("token", "revoke", "01ARZ3NDEKTSV4RRFFQ69G5FAV", ok=False).returncode == 2


def test_token_list_only_reads_the_store(cli: Cli) -> None:
    empty = cli("token", "list", ok=False)  # a store never migrated: told so, not migrated
    assert empty.returncode == 2
    assert "has no tables yet: run `policyjobs migrate`" in empty.stderr
    db = open_store(cli.url)
    try:
        assert sa.inspect(db).get_table_names() == []
    finally:
        db.dispose()


def test_tenant_configure_and_retire(cli: Cli, tmp_path: Path) -> None:
    tenant = cli("tenant", "create").stdout.strip()
    config = tmp_path / "tenant.yaml"
    config.write_text("timezone: Europe/Paris\ncurrency: EUR\n")
    cli("tenant", "configure", tenant, str(config))
    assert "retired" in cli("tenant", "retire", tenant).stderr
    assert "already retired" in cli("tenant", "retire", tenant).stderr
    assert cli("tenant", "retire", "3f0c5a8e-8a7e-4a36-9a3a-1f2f0c3f9b11", ok=False
               ).returncode == 2


def test_a_bad_cap_or_lane_changes_nothing_of_the_tenant(cli: Cli, tmp_path: Path) -> None:
    tenant = cli("tenant", "create").stdout.strip()
    config = tmp_path / "tenant.yaml"
    config.write_text("timezone: Europe/Paris\nmaxRunningJobs: 2\njobLanes: {documents: batch}\n")
    cli("tenant", "configure", tenant, str(config))
    config.write_text("timezone: Asia/Tokyo\nmaxRunningJobs: 0\njobLanes: {documents: soon}\n")
    refused = cli("tenant", "configure", tenant, str(config), ok=False)
    assert refused.returncode == 2
    assert "maxRunningJobs: Input should be greater than or equal to 1" in refused.stderr
    assert "jobLanes.documents: Input should be 'interactive', 'standard' or 'batch'" in \
        refused.stderr
    db = open_store(cli.url)
    try:
        with db.connect() as conn:
            stored = conn.execute(sa.text("SELECT config FROM tenants")).scalar_one()
            cap = conn.execute(sa.text("SELECT max_running FROM engine_tenants")).scalar_one()
            lanes = conn.execute(sa.text("SELECT kind, lane FROM engine_lanes")).all()
    finally:
        db.dispose()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert (stored["timezone"], stored["maxRunningJobs"], stored["jobLanes"]) == (
        "Europe/Paris", 2, {"documents": "batch"})
    assert (cap, lanes) == (2, [("documents", 2)])


def test_webhook_commands_make_list_change_rotate_and_delete_an_endpoint(
        local_cli: Cli) -> None:
    # One store: the commands only call the service, which the API's tests run on both.
    cli = local_cli
    tenant = cli("tenant", "create").stdout.strip()
    cli.env |= {"POLICYJOBS_WEBHOOKS_ALLOW_HTTP": "1", "POLICYJOBS_WEBHOOKS_ALLOW_PRIVATE": "1"}
    made = cli("webhook", "create", "--tenant", tenant, "--url", "http://127.0.0.1:9/in",
               "--event-type", "documents.job.finished", "--description", "ledger").stdout
    locator, secret = made.split()
    assert secret.startswith("whsec_")
    listed = cli("webhook", "list", "--tenant", tenant).stdout.splitlines()
    assert listed[0].split("\t")[:3] == ["locator", "url", "event types"]
    assert listed[1].split("\t")[:4] == [locator, "http://127.0.0.1:9/in",
                                          "documents.job.finished", "yes"]
    assert secret not in "".join(listed)
    cli("webhook", "update", locator, "--tenant", tenant, "--all-types", "--disable")
    row = cli("webhook", "list", "--tenant", tenant).stdout.splitlines()[1].split("\t")
    assert (row[2], row[3]) == ("all", "no: disabled")
    rotated = cli("webhook", "rotate-secret", locator, "--tenant", tenant).stdout.strip()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    assert cli("webhook", "deliveries", locator, "--tenant", tenant).stdout.splitlines() == [
        "attempted\tevent\ttype\tstatus\tcode\tms\terror"]
    cli("webhook", "delete", locator, "--tenant", tenant)
    assert len(cli("webhook", "list", "--tenant", tenant).stdout.splitlines()) == 1


def test_a_bad_webhook_says_which_field_and_makes_nothing(local_cli: Cli) -> None:
    cli = local_cli
    tenant = cli("tenant", "create").stdout.strip()
    refused = cli("webhook", "create", "--tenant", tenant, "--url", "http://127.0.0.1/in",
                  "--event-type", "no.such.type", ok=False)
    assert refused.returncode == 2
    assert "error: url: the URL must use https" in refused.stderr
    assert "error: eventTypes[0]: 'no.such.type' is not an event type" in refused.stderr
    assert cli("webhook", "list", "--tenant", tenant).stdout.count("\n") == 1
    missing = cli("webhook", "delete", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--tenant", tenant,
                  ok=False)
    assert "error: webhook endpoint 01ARZ3NDEKTSV4RRFFQ69G5FAV not found" in missing.stderr


def test_migrate_is_repeatable(cli: Cli) -> None:
    cli("migrate")
    assert "up to date" in cli("migrate").stderr


def test_a_store_migrated_by_a_newer_release_is_refused_plainly(cli: Cli) -> None:
    cli("migrate")
    db = open_store(cli.url)
    try:
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        db.dispose()
    for command in (("migrate",), ("worker",)):
        refused = cli(*command, ok=False)
        assert refused.returncode == 2
        assert refused.stderr.startswith("error: the store is at schema revision 9999, "
                                         "which a newer release")
        assert "Traceback" not in refused.stderr


def test_serve_with_two_processes_answers_and_stops_on_sigterm(cli: Cli) -> None:
    cli("migrate")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "policyjobs", "serve", "--processes", "2",
                               "--port", str(port)], env=cli.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline, answered = time.monotonic() + 60, False
        while time.monotonic() < deadline and not answered:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json() == {
                    "status": "ok", "database": "ok"}
            except httpx.TransportError:
                time.sleep(0.2)
        assert answered
        children = subprocess.run(["pgrep", "-P", str(server.pid), "-f", "spawn_main"],
                                  capture_output=True, text=True, check=False).stdout.split()
        assert len(children) >= 2
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr


def test_serve_spreads_kept_alive_connections_and_replaces_a_killed_process(
        cli: Cli) -> None:
    """Each process of `serve --processes 2` has a socket of its own on the port, so the
    kernel spreads 32 kept-alive connections over both, where one shared socket can leave
    most of them to one process; a process killed outright is replaced."""
    cli("migrate")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "policyjobs", "serve", "--processes", "2",
                               "--no-worker", "--port", str(port)], env=cli.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    connections: list[socket.socket] = []
    try:
        wait_for_health(port)
        for _ in range(32):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
            connections.append(conn)
        held = connections_held(server.pid, port)
        assert len(held) == 2, held
        assert sum(held.values()) == 32, held
        assert min(held.values()) >= 6, held  # a fair split fails this once in 5,000 runs

        os.kill(min(held), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(servers_of(server.pid)) < 2 or min(held) in servers_of(server.pid):
            assert time.monotonic() < deadline, "no process took the killed one's place"
            time.sleep(0.2)
        wait_for_health(port)
    finally:
        for conn in connections:
            conn.close()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert "an API process died; starting another in its place" in stderr


def wait_for_health(port: int) -> None:
    """Wait until the server on `port` answers `/health` with its store up."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json() == {
                    "status": "ok", "database": "ok"}:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer"
        time.sleep(0.2)


def servers_of(pid: int) -> set[int]:
    """The server processes whose parent is `pid` (not multiprocessing's resource tracker)."""
    return {child for child in children_of(pid)
            if any("spawn_main" in part for part in command_line(child))}


def connections_held(parent: int, port: int) -> dict[int, int]:
    """How many established connections to `port` each child of `parent` holds."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                established.add(f"socket:[{fields[9]}]")
    held = {}
    for child in servers_of(parent):
        fds = Path(f"/proc/{child}/fd")
        held[child] = sum(1 for fd in fds.iterdir() if os.readlink(fd) in established)
    return held


# A wrong setting, a store that cannot be opened and a busy port each end a command with one
# line, `error: …`, and exit code 2: never a traceback, never a password.


@pytest.fixture
def local_cli(tmp_path: Path) -> Cli:
    """The command line over the default store, SQLite under its home."""
    cli = Cli("", tmp_path / "home")
    del cli.env["POLICYJOBS_DATABASE_URL"]
    return cli


def run_briefly(cli: Cli, *args: str, seconds: float = 30) -> subprocess.CompletedProcess[str]:
    """`policyjobs *args`, stopped with SIGTERM if it is still running after `seconds` (a
    command that should have failed at once but started)."""
    process = subprocess.Popen([sys.executable, "-m", "policyjobs", *args], env=cli.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # never left running after the test
            raise
        stderr = f"(still running after {seconds} s)\n{stderr}"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_plain_error(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    """The command exited 2 with one line on stderr, `error: …` holding each of `parts`."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0], result.stderr
    assert result.stdout == ""
    return lines[0]


BAD_SETTINGS = [
    pytest.param({"POLICYJOBS_DATABASE_URL": "nonsense"},
                 ("POLICYJOBS_DATABASE_URL", "postgresql+psycopg://"), id="url-nonsense"),
    pytest.param({"POLICYJOBS_DATABASE_URL": "postgres://pj:secret@127.0.0.1/pj"},
                 ("POLICYJOBS_DATABASE_URL", "postgres://pj:***@127.0.0.1/pj",
                  "postgresql+psycopg://"), id="url-postgres-scheme"),
    pytest.param({"POLICYJOBS_DATABASE_URL": "mysql://pj:secret@127.0.0.1/pj"},
                 ("POLICYJOBS_DATABASE_URL", "mysql://pj:***@127.0.0.1/pj"), id="url-mysql"),
    pytest.param({"POLICYJOBS_DATABASE_URL": "postgresql+psycopg://pj:secret@127.0.0.1:x5432/pj"},
                 ("POLICYJOBS_DATABASE_URL", "port"), id="url-port"),
    pytest.param({"POLICYJOBS_RENDERERS": "0"}, ("POLICYJOBS_RENDERERS", "1"), id="renderers"),
    pytest.param({"POLICYJOBS_LOG_LEVEL": "loud"},
                 ("POLICYJOBS_LOG_LEVEL", "'debug'", "'critical'"), id="log-level"),
    pytest.param({"POLICYJOBS_PLUGINS": "nosuchmodule"},
                 ("POLICYJOBS_PLUGINS", "nosuchmodule"), id="plugin-missing"),
    pytest.param({"POLICYJOBS_PLUGINS": "json"},
                 ("POLICYJOBS_PLUGINS", "json", "domain"), id="plugin-without-domain"),
]


@pytest.mark.parametrize(("env", "parts"), BAD_SETTINGS)
def test_a_wrong_setting_is_one_line_naming_it(local_cli: Cli, env: dict[str, str],
                                               parts: tuple[str, ...]) -> None:
    local_cli.env.update(env)
    for command in (("migrate",), ("token", "list")):
        result = run_briefly(local_cli, *command)
        assert_plain_error(result, *parts)
        assert "secret" not in result.stderr


def test_a_home_that_cannot_be_made_is_one_line(local_cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for home in (blocker, blocker / "home"):
        local_cli.env["POLICYJOBS_HOME"] = str(home)
        for command in (("migrate",), ("token", "list")):
            assert_plain_error(run_briefly(local_cli, *command), "POLICYJOBS_HOME", str(home))


def test_every_command_checks_the_settings_first(local_cli: Cli, tmp_path: Path) -> None:
    local_cli.env["POLICYJOBS_RENDERERS"] = "many"
    config = tmp_path / "tenant.yaml"
    config.write_text("timezone: Europe/Paris\n")
    tenant = "3f0c5a8e-8a7e-4a36-9a3a-1f2f0c3f9b11"
    for command in (("serve", "--port", "0"), ("serve", "--port", "0", "--processes", "2"),
                    ("worker",), ("migrate",), ("tenant", "create"),
                    ("tenant", "configure", tenant, str(config)), ("tenant", "retire", tenant),
                    ("token", "create", "--tenant", "any", "--permissions", "admin"),
                    ("token", "list"), ("token", "revoke", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                    ("demo", "--port", "0", "--exit", "--policies", "2")):
        assert_plain_error(run_briefly(local_cli, *command), "POLICYJOBS_RENDERERS")
    assert not (tmp_path / "home" / "policyjobs.db").exists()


def test_migrate_fails_at_once_on_a_wrong_database_or_user(postgres: PostgresServer,
                                                           tmp_path: Path) -> None:
    for url, reason in ((postgres.url("no_such_store"), "no_such_store"),
                        (postgres.url().replace(f"//{postgres.user}@", "//nobody:secret@"),
                         "nobody")):
        started = time.monotonic()
        result = run_briefly(Cli(url, tmp_path), "migrate")
        line = assert_plain_error(result, "cannot open the store at", reason)
        assert "secret" not in result.stderr
        assert time.monotonic() - started < 15, line


def test_migrate_waits_for_a_store_that_is_away(tmp_path: Path) -> None:
    """As `worker` and `serve` do, up to 30 s; a refused connection is a store away."""
    refused = f"postgresql+psycopg://pj:secret@127.0.0.1:{free_port()}/pj"
    result = run_briefly(Cli(refused, tmp_path), "migrate", seconds=8)
    assert "still running after 8 s" in result.stderr, result.stderr
    assert "the store cannot be reached; trying again" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def hold_port(*, reuse_port: bool) -> socket.socket:
    """A socket listening on a free port of 127.0.0.1, as another server (or, with
    `reuse_port`, another `serve --processes`) would."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuseport"])
@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_on_a_busy_port_fails_before_starting_anything(
        local_cli: Cli, tmp_path: Path, reuse_port: bool, processes: str) -> None:
    with hold_port(reuse_port=reuse_port) as held:
        port = held.getsockname()[1]
        result = run_briefly(local_cli, "serve", "--port", str(port), "--processes", processes)
    assert_plain_error(result, f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert not (tmp_path / "home" / "policyjobs.db").exists()  # not even migrated


def test_demo_on_a_busy_port_fails(local_cli: Cli, tmp_path: Path) -> None:
    with hold_port(reuse_port=False) as held:
        port = held.getsockname()[1]
        result = run_briefly(local_cli, "demo", "--port", str(port), "--exit",
                             "--policies", "2", seconds=120)
    assert_plain_error(result, f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert not (tmp_path / "home" / "policyjobs.db").exists()


def test_worker_with_a_busy_metrics_port_fails_before_it_opens_the_store(
        local_cli: Cli, tmp_path: Path) -> None:
    with hold_port(reuse_port=False) as held:
        port = held.getsockname()[1]
        result = run_briefly(local_cli, "worker", "--metrics-port", str(port))
    assert_plain_error(result, f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert not (tmp_path / "home" / "policyjobs.db").exists()  # not even migrated
