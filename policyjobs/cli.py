"""The `policyjobs` command: serve, work, migrate, and manage tenants and tokens."""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policyjobs.app import build_runtime, product_tenant_configs, webhook_keys
from policyjobs.documents.storage import StorageUnusable
from policyjobs.domain import load_plugin
from policyjobs.engine import NIL_UUID
from policyjobs.exceptions import PolicyjobsError
from policyjobs.logs import configure_logging
from policyjobs.malloc import limit_arenas
from policyjobs.runtime import Runtime
from policyjobs.security import audit
from policyjobs.security.audit import Actor
from policyjobs.security.tokens import (
    ANY_TENANT,
    TokenRecord,
    create_token,
    list_tokens,
    revoke_token,
)
from policyjobs.serving import bound_sockets
from policyjobs.settings import Settings, duration
from policyjobs.store.database import open_store, reader
from policyjobs.store.migrate import StoreTooNew, migrate_when_up
from policyjobs.tenants.config import TenantConfig, TenantConfigError
from policyjobs.webhooks import queries as webhook_queries
from policyjobs.webhooks import service as webhooks

app = typer.Typer(help="policyjobs: the job system of an insurance core platform.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)  # locals may hold a secret
tenant_app = typer.Typer(help="Create, configure and retire tenants.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke personal access tokens.",
                        no_args_is_help=True)
webhook_app = typer.Typer(help="Subscribe URLs to a tenant's events, and see and resend "
                                "their deliveries.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(token_app, name="token")
documents_app = typer.Typer(help="Move the rendered documents' files.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
app.add_typer(documents_app, name="documents")
err = Console(stderr=True)


def _settings(*, home: bool = False, **overrides: object) -> Settings:
    """The settings from the environment (a flag's value in `overrides` wins), checked before
    anything starts, and logging configured by them. The home is made here when the store
    lives in it, or when the command renders documents into it (`home`)."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _fail(*(_problem(error) for error in exc.errors())) from None
    for module in settings.plugin_modules:  # imported now, so that a typo ends here
        try:
            load_plugin(module)
        except ImportError as exc:
            raise _fail(f"POLICYJOBS_PLUGINS={settings.plugins!r}: cannot import {module}: "
                        f"{exc}") from None
        except ValueError as exc:  # it has no `domain`
            raise _fail(f"POLICYJOBS_PLUGINS={settings.plugins!r}: {exc}") from None
    if home or settings.database_url is None:
        _make_home(settings.home)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _problem(error: ErrorDetails) -> str:
    """`POLICYJOBS_RENDERERS='0': Input should be …`, for one setting pydantic refused. Our
    own validators' messages say what they need to, and the store's URL is never shown
    whole: it may hold a password."""
    name = "POLICYJOBS_" + "_".join(map(str, error["loc"])).upper()
    if error["type"] == "value_error":
        return f"{name}: {error.get('ctx', {}).get('error', error['msg'])}"
    if error["loc"] == ("database_url",):
        return f"{name}: {error['msg']}"
    return f"{name}={error['input']!r}: {error['msg']}"


def _make_home(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _fail(f"POLICYJOBS_HOME={home}: a file is in the way of the directory") from None
    except OSError as exc:
        raise _fail(f"POLICYJOBS_HOME={home}: cannot make the directory: {exc.strerror}"
                    ) from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise _fail(f"POLICYJOBS_HOME={home}: cannot write in the directory")


def _fail(*problems: str) -> typer.Exit:
    """Exit code 2, after one line on stderr for each problem (never wrapped, never taken
    for Rich markup)."""
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(problem)}", soft_wrap=True)
    return typer.Exit(code=2)


def _echo_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Rows as a table on a terminal, tab-separated when piped."""
    if not sys.stdout.isatty():
        for row in (header, *rows):
            typer.echo("\t".join(row))
        return
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _read_config(path: Path | None, settings: Settings) -> TenantConfig:
    schema = product_tenant_configs(settings)
    if path is None:
        return schema.load("")
    try:
        return schema.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    except TenantConfigError as exc:
        raise _fail(f"{path} is not a valid tenant configuration:\n{exc}") from None


@contextmanager
def _runtime(settings: Settings) -> Iterator[Runtime]:
    """The product's runtime over the store (migrated first: `_opening`), closed when the
    command is done; what the service refuses ends the command with its reason."""
    with _opening(settings):
        runtime = build_runtime(settings)
    try:
        with _refusals():
            yield runtime
    finally:
        runtime.close()


@contextmanager
def _store(settings: Settings) -> Iterator[sa.Engine]:
    """The store alone, for a command that only reads or migrates it, closed when the
    command is done."""
    with _opening(settings):
        db = open_store(settings.url)
    try:
        with _opening(settings):  # reading or migrating it is what opens a connection
            yield db
    finally:
        db.dispose()


@contextmanager
def _refusals() -> Iterator[None]:
    """Ends the command with one line when the service refuses what it was asked (an
    unknown tenant, a token it cannot revoke)."""
    try:
        yield
    except PolicyjobsError as exc:
        raise _fail(exc.detail, *(f"{e.field}: {e.message}" for e in exc.errors)) from None


@contextmanager
def _opening(settings: Settings) -> Iterator[None]:
    """Ends the command with one line when the store cannot be opened: at once for a wrong
    name or password, after up to 30 s for a server that is away (`migrate_when_up`)."""
    url = sa.make_url(settings.url).render_as_string()  # its password hidden
    try:
        with _refusals():
            yield
    except sa.exc.OperationalError as exc:
        reason = " ".join(str(exc.orig).split())  # libpq's spans lines
        raise _fail(f"cannot open the store at {url}: {reason}") from None
    except OSError as exc:  # the folder of a SQLite file
        raise _fail(f"cannot open the store at {url}: {exc.strerror or exc}") from None


def _check_documents(settings: Settings) -> None:
    """Ends the command with one line when the document storage cannot be used: a bucket
    that does not exist, credentials it refuses, an endpoint that does not answer."""
    from policyjobs.documents.storage import storage_for

    try:
        storage_for(settings.documents_url, settings.home).check()
    except StorageUnusable as exc:
        raise _fail(f"POLICYJOBS_DOCUMENTS_URL: {exc}") from None


def _bind(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """`bound_sockets`, or a line saying why not (the port is taken, say)."""
    try:
        return bound_sockets(host, port, count)
    except OSError as exc:
        raise _cannot_listen(host, port, exc) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> typer.Exit:
    shown = f"[{host}]" if ":" in host else host
    return _fail(f"cannot listen on {shown}:{port}: {exc.strerror or exc}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker",
                                            help="Serve the API only, run no jobs.")] = False,
    test_clock: Annotated[bool, typer.Option("--test-clock",
                                             help="Expose /admin/clock to move time.")] = False,
    processes: Annotated[int, typer.Option(
        min=1, max=64, help="Server processes sharing the port; each one runs its own "
                            "workers unless --no-worker.")] = 1,
) -> None:
    """Run the API, with workers and the scheduler unless --no-worker; migrates first."""
    limit_arenas()  # before any thread starts
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from policyjobs.api.application import create_app
    from policyjobs.app import app_for_process
    from policyjobs.serving import serve_processes

    overrides: dict[str, object] = {"test_clock": True} if test_clock else {}
    settings = _settings(home=not no_worker, **overrides)  # workers render into it
    # The port first: on a busy one, nothing has started (no migration, no workers, no
    # scheduler leadership taken) when the command ends.
    sockets = _bind(host, port, processes)
    grace = int(settings.shutdown_grace.total_seconds())
    try:
        _check_documents(settings)
        if processes > 1:  # each child builds its own runtime, from these settings
            with _runtime(settings):
                pass  # the store migrated once, here, before any child starts
            raise typer.Exit(serve_processes(
                sockets, grace=grace, app=partial(app_for_process, settings, not no_worker)))
        with _runtime(settings) as runtime:
            server = uvicorn.Server(uvicorn.Config(
                create_app(runtime, run_workers=not no_worker, owns_process=True), host=host,
                port=port, log_config=None, timeout_graceful_shutdown=grace))
            with suppress(KeyboardInterrupt):  # as `uvicorn.run`: Ctrl-C is a way to stop
                server.run(sockets=sockets)
        if not server.started:
            raise typer.Exit(STARTUP_FAILURE)
    finally:
        for sock in sockets:
            sock.close()


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=256,
                                                    help="Handler threads.")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Serve /metrics for Prometheus on this port.")] = None,
    metrics_host: Annotated[str, typer.Option(help="Address of the metrics port.")] =
        "127.0.0.1",
) -> None:
    """Run workers and the scheduler only, until SIGTERM or Ctrl-C; migrates first."""
    limit_arenas()  # before any thread starts
    if metrics_port is not None:  # a taken port is said at once, not after the store's wait
        for probe in _bind(metrics_host, metrics_port):
            probe.close()
    # The connection pool is sized for the threads, so the option goes into the settings.
    settings = _settings(home=True, **({} if concurrency is None
                                       else {"concurrency": concurrency}))
    _check_documents(settings)
    with _runtime(settings) as runtime:
        if metrics_port is not None:
            from policyjobs.api.observability import serve_metrics

            try:
                serve_metrics(metrics_host, metrics_port, runtime.queue.collector())
            except OSError as exc:  # taken since the probe; still before any worker starts
                raise _cannot_listen(metrics_host, metrics_port, exc) from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        runtime.start_workers()
        # What start-up made lives as long as the process: out of the collector's sight, the
        # full collections that a stream of claimed batches sets off take a few
        # milliseconds instead of a third of the worker's time.
        gc.collect()
        gc.freeze()
        while not stop.wait(1.0):
            pass


@app.command()
def migrate() -> None:
    """Apply every migration the store lacks."""
    settings = _settings()
    # As every command that opens the store: a wrong name or password fails at once, a
    # server that is away (restarting, refusing) is waited for.
    with _store(settings) as db:
        migrate_when_up(db)
    err.print(f"store at {db.url.render_as_string()} is up to date")


@tenant_app.command("create")
def tenant_create(
    config: Annotated[Path | None, typer.Option(help="The tenant's YAML configuration.")] = None,
) -> None:
    """Create a tenant; prints only its UUID."""
    settings = _settings()
    tenant_config = _read_config(config, settings)
    with _runtime(settings) as runtime:
        locator = runtime.create_tenant(tenant_config, Actor.command_line())
    typer.echo(locator)


@tenant_app.command("configure")
def tenant_configure(tenant: str, config: Path) -> None:
    """Replace a tenant's configuration."""
    settings = _settings()
    tenant_config = _read_config(config, settings)
    with _runtime(settings) as runtime:
        runtime.configure_tenant(tenant, tenant_config, Actor.command_line())
    err.print(f"tenant {tenant} configured")


@tenant_app.command("retire")
def tenant_retire(tenant: str) -> None:
    """Retire a tenant: it takes no more events."""
    with _runtime(_settings()) as runtime:
        changed = runtime.retire_tenant(tenant)
    err.print(f"tenant {tenant} " + ("retired" if changed else "was already retired"))


@token_app.command("create")
def token_create(
    tenant: Annotated[str, typer.Option(help=f"A tenant UUID, or {ANY_TENANT!r}.")],
    permissions: Annotated[str, typer.Option(help="Comma-separated, e.g. jobs.read,jobs.list.")],
    expires_in: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d or 12h.")] = None,
    user: Annotated[str | None, typer.Option(help="The user UUID; a new one if omitted.")] =
        None,
) -> None:
    """Create a personal access token; prints only the token."""
    with _runtime(_settings()) as runtime:
        now = runtime.clock.now()
        try:
            expires_at = now + duration(expires_in) if expires_in else None
            with runtime.db.begin() as conn:
                text, made = create_token(
                    conn, tenants=[t.strip() for t in tenant.split(",") if t.strip()],
                    permissions=[p.strip() for p in permissions.split(",") if p.strip()],
                    known=runtime.permissions, now=now, expires_at=expires_at, user_id=user,
                )
                _token_audited(conn, "token.create", made, now)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    typer.echo(text)


@token_app.command("list")
def token_list() -> None:
    """List tokens, without their secrets."""
    # Only the store, read: no migration, no workers, nothing of the domains.
    with _store(_settings()) as db, reader(db).connect() as conn:
        if not sa.inspect(conn).has_table("tokens"):
            raise _fail(f"the store at {db.url.render_as_string()} has no tables yet: "
                        "run `policyjobs migrate`")
        records = list_tokens(conn)
    header = ("id", "user", "tenants", "permissions", "created", "expires", "revoked")

    def when(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    _echo_rows(header, [(r.id, r.user_id, ",".join(r.tenants), ",".join(r.permissions),
                         when(r.created_at), when(r.expires_at), when(r.revoked_at))
                        for r in records])


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id, as `token list` shows it."""
    with _runtime(_settings()) as runtime, runtime.db.begin() as conn:
        revoked = revoke_token(conn, token_id, runtime.clock.now())
        _token_audited(conn, "token.revoke", revoked, runtime.clock.now())
    err.print(f"token {token_id} revoked")


def _token_audited(conn: sa.Connection, action: str, token: TokenRecord,
                   now: datetime) -> None:
    """Record a token made or revoked at the command line: for its one tenant, if it has
    one; never its secret."""
    tenant = token.tenants[0] if len(token.tenants) == 1 and token.tenants != [ANY_TENANT] \
        else None
    audit.record(conn, Actor.command_line(), action, at=now, tenant=tenant,
                 tokenLocator=token.id, user=token.user_id, tenants=token.tenants,
                 permissions=token.permissions)


TenantOption = Annotated[str, typer.Option(help="The tenant's UUID.")]
EventTypes = Annotated[list[str] | None, typer.Option(
    "--event-type", help="An event type it wants; repeat for more; none: every type.")]


@webhook_app.command("create")
def webhook_create(
    tenant: TenantOption, url: Annotated[str, typer.Option(help="Where deliveries go.")],
    event_type: EventTypes = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
) -> None:
    """Subscribe a URL to the tenant's events; prints its locator, then its secret (shown
    this once)."""
    settings = _settings()
    with _runtime(settings) as runtime, runtime.db.begin() as conn:
        locator, secret = webhooks.create(
            conn, webhook_keys(settings), tenant=tenant, url=url, event_types=event_type or [],
            description=description, created_by=NIL_UUID, now=runtime.clock.now())
        webhooks.audited(conn, Actor.command_line(), runtime.clock.now(), tenant=tenant,
                         locator=locator, change="create", url=url,
                         eventTypes=event_type or [])
    typer.echo(locator)
    typer.echo(secret)


@webhook_app.command("list")
def webhook_list(tenant: TenantOption) -> None:
    """The tenant's endpoints."""
    with _runtime(_settings()) as runtime, runtime.db.connect() as conn:
        rows = webhook_queries.endpoints_of(conn, tenant=tenant)
    _echo_rows(("locator", "url", "event types", "enabled", "failing since", "description"),
               [(r.locator, r.url, ",".join(r.event_types) or "all",
                 "yes" if r.enabled else f"no: {r.disabled_reason or 'disabled'}",
                 r.failing_since.isoformat(timespec="seconds") if r.failing_since else "-",
                 r.description) for r in rows])


@webhook_app.command("update")
def webhook_update(
    locator: str, tenant: TenantOption,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    event_type: EventTypes = None,
    all_types: Annotated[bool, typer.Option("--all-types", help="Want every type.")] = False,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable",
                                                 help="Deliver to it, or not.")] = None,
) -> None:
    """Change an endpoint."""
    settings = _settings()
    types = [] if all_types else event_type
    with _runtime(settings) as runtime, runtime.db.begin() as conn:
        webhooks.update(conn, webhook_keys(settings), tenant=tenant, locator=locator,
                        changes=webhooks.Changes(url, types, description, enabled),
                        now=runtime.clock.now())
        changed = {"url": url, "eventTypes": types, "description": description,
                   "enabled": enabled}
        webhooks.audited(conn, Actor.command_line(), runtime.clock.now(), tenant=tenant,
                         locator=locator, change="update",
                         **{k: v for k, v in changed.items() if v is not None})
    err.print(f"webhook endpoint {locator} updated")


@webhook_app.command("delete")
def webhook_delete(locator: str, tenant: TenantOption) -> None:
    """Remove an endpoint."""
    with _runtime(_settings()) as runtime, runtime.db.begin() as conn:
        webhooks.delete(conn, tenant=tenant, locator=locator)
        webhooks.audited(conn, Actor.command_line(), runtime.clock.now(), tenant=tenant,
                         locator=locator, change="delete")
    err.print(f"webhook endpoint {locator} deleted")


@webhook_app.command("rotate-secret")
def webhook_rotate_secret(locator: str, tenant: TenantOption) -> None:
    """A new secret (printed this once); the old one signs beside it for 24 hours."""
    settings = _settings()
    with _runtime(settings) as runtime, runtime.db.begin() as conn:
        secret = webhooks.rotate(conn, webhook_keys(settings), tenant=tenant, locator=locator,
                                 now=runtime.clock.now())
        webhooks.audited(conn, Actor.command_line(), runtime.clock.now(), tenant=tenant,
                         locator=locator, change="rotateSecret")
    typer.echo(secret)


@webhook_app.command("deliveries")
def webhook_deliveries(
    locator: str, tenant: TenantOption,
    event: Annotated[str | None, typer.Option(help="Only this event's.")] = None,
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """The latest attempts at an endpoint's deliveries."""
    with _runtime(_settings()) as runtime, runtime.db.connect() as conn:
        rows = webhook_queries.attempts_of(conn, tenant=tenant, endpoint_=locator,
                                           event=event, limit=count)
    _echo_rows(("attempted", "event", "type", "status", "code", "ms", "error"),
               [(r.attempted_at.isoformat(timespec="seconds"), r.event_id, r.type, r.status,
                 str(r.status_code or "-"), str(r.latency_ms), r.error or "") for r in rows])


@webhook_app.command("resend")
def webhook_resend(
    locator: str, tenant: TenantOption,
    event: Annotated[str | None, typer.Option(help="Deliver this event again.")] = None,
    failed_since: Annotated[datetime | None, typer.Option(
        help="Deliver again every delivery that failed since this time (UTC unless it says).",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])] = None,
) -> None:
    """Deliver one event again, or every failed delivery since a time; prints the
    deliveries queued."""
    if (event is None) == (failed_since is None):
        raise _fail("give --event or --failed-since, not both")
    since = None if failed_since is None else (
        failed_since if failed_since.tzinfo else failed_since.replace(tzinfo=UTC))
    with _runtime(_settings()) as runtime, runtime.db.begin() as conn:
        resent = webhooks.resend(conn, runtime.queue, tenant=tenant, endpoint=locator,
                                 event_id=event, failed_since=since, now=runtime.clock.now(),
                                 created_by=NIL_UUID)
        webhooks.audited(conn, Actor.command_line(), runtime.clock.now(), tenant=tenant,
                         locator=locator, change="resend", eventId=event,
                         failedSince=since.isoformat() if since else None,
                         deliveryLocators=resent)
    for delivery in resent:
        typer.echo(delivery)
    err.print(f"{len(resent)} deliveries queued again")


DEMO_PORT = 8000


@documents_app.command("copy")
def documents_copy(
    to: Annotated[str, typer.Option("--to", help="The bucket: s3://bucket/prefix.")],
    source: Annotated[Path | None, typer.Option(
        "--from", show_default=False,
        help="The directory to copy; by default the configured one "
             "(POLICYJOBS_DOCUMENTS_URL, or <home>/documents).")] = None,
) -> None:
    """Copy every document file of a local storage into a bucket, skipping those it has
    already: run it again to resume, or to copy what was rendered since."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from policyjobs.documents.buckets import BucketStorage
    from policyjobs.documents.moving import copy_files
    from policyjobs.documents.storage import FilesUnavailable, LocalStorage
    from policyjobs.settings import bucket_of, is_bucket

    settings = _settings()
    try:
        bucket_of(to)
    except ValueError as exc:
        raise _fail(f"--to {to}: {exc}") from None
    if source is None and is_bucket(settings.documents_url):
        raise _fail(f"POLICYJOBS_DOCUMENTS_URL is a bucket ({settings.documents_url}): name "
                    "the directory to copy with --from")
    directory = source or (Path(settings.documents_url) if settings.documents_url
                           else settings.home / "documents")
    if not directory.is_dir():
        raise _fail(f"{directory}: no such directory of documents")
    local, bucket = LocalStorage(directory), BucketStorage(to)
    try:
        bucket.check()
    except StorageUnusable as exc:
        raise _fail(f"--to {exc}") from None
    files = list(local.files())
    total = sum(path.stat().st_size for _, path in files)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, transient=False) as progress:
        task = progress.add_task(f"{len(files):,} files", total=total)
        try:
            done = copy_files(local, bucket, lambda size: progress.advance(task, size))
        except FilesUnavailable as exc:
            err.print(f"[red]error:[/red] {escape(exc.detail)}; run the same command again "
                      "to go on from where it stopped", soft_wrap=True)
            raise typer.Exit(code=1) from None
    err.print(f"{done.copied:,} files copied ({done.bytes:,} bytes), {done.skipped:,} already "
              f"in {to}", soft_wrap=True)


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(
        min=0, max=65535, show_default=False,
        help=f"Port to serve on; 0 picks a free one. Without it, {DEMO_PORT}, or a free one "
             f"when {DEMO_PORT} is taken.")] = None,
    exit_after: Annotated[bool, typer.Option("--exit", help="Stop after the summary.")] = False,
    policies: Annotated[int, typer.Option(min=2, max=1000,
                                          help="Policies in the simulated book.")] = 50,
) -> None:
    """Serve an embedded instance with the test clock and drive a book of business through a
    simulated year; then show the dashboard, a token and curl lines to try."""
    from policyjobs.demo import run_demo

    # The demo delivers webhooks to its own receiver, on a loopback http URL.
    settings = _settings(home=True, test_clock=True, webhooks_allow_http=True,
                         webhooks_allow_private=True)
    configure_logging("error", "console")  # the story, not the log, is what the demo shows
    _check_documents(settings)
    if port is not None:  # a port asked for is the one served, or an error
        [sock] = _bind("127.0.0.1", port)
    else:
        try:
            [sock] = bound_sockets("127.0.0.1", DEMO_PORT, 1)
        except OSError as exc:
            [sock] = _bind("127.0.0.1", 0)
            err.print(f"port {DEMO_PORT} is taken ({exc.strerror}); the demo serves on "
                      f"port {sock.getsockname()[1]}", soft_wrap=True)
    try:
        with _runtime(settings) as runtime:
            run_demo(runtime, sock, exit_after=exit_after, policies=policies)
    finally:
        sock.close()


def main() -> None:
    """The console script's entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except StorageUnusable as exc:  # any command whose domains make the document storage
        err.print(f"[red]error:[/red] POLICYJOBS_DOCUMENTS_URL: {escape(str(exc))}",
                  soft_wrap=True)
        sys.exit(2)
    except StoreTooNew as exc:  # from any command that opens the store
        err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
