"""The API's reads, awaited on the event loop: asyncpg on PostgreSQL, the thread pool on SQLite.

A read route awaits `reads.all(statement, params)` or `reads.first(statement, params)`: a
statement built once, at import, and the values to bind. Rows come back with their columns
as attributes, as SQLAlchemy's rows have them, and with the same types.

On PostgreSQL the statement is compiled once for asyncpg and run on a pool of its own,
in the request's event loop: no trip to a thread and back, and no SQLAlchemy result layer,
which together took about two thirds of a read's time. Each statement runs on its own
(autocommit), so the statements of one request may see commits made between them. A
connection the server dropped (a restart, a failover) is replaced and the read runs once
more; a store that cannot serve raises `StoreUnavailable`, which the API answers with 503.
An asyncpg connection works only in the event loop that made it: a server runs one loop
per process, and an app served from several in turn (one test client, then another) gets
a pool in each.

On SQLite each statement runs on the store's own read-only engine in the thread pool.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import asyncpg
import orjson
import sqlalchemy as sa
import structlog
from anyio import to_thread
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from policyjobs.exceptions import StoreUnavailable
from policyjobs.store.database import CONNECT_TIMEOUT_SECONDS, PLANS_KEPT_SECONDS, reader

log = structlog.get_logger("policyjobs.store")

READ_CONNECTIONS = 10  # the most a process's reads hold at once, on PostgreSQL
STATEMENT_TIMEOUT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 10.0  # how long closing waits for reads under way
_COMPILED_KEPT = 1000  # statements compiled for asyncpg, at most (the app has about 40)
# libpq's settings of the client side that asyncpg does not know: it would send them to the
# server as settings of the session, which refuses them. Its own TCP handling stands in.
_LIBPQ_ONLY = ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
               "keepalives_count", "tcp_user_timeout", "hostaddr", "channel_binding",
               "gssencmode", "gssdelegation", "requirepeer", "require_auth", "sslcompression",
               "sslsni", "ssl_min_protocol_version", "ssl_max_protocol_version",
               "sslcertmode", "load_balance_hosts", "fallback_application_name", "replication")
# What a connection the server dropped raises: the read can run again on a fresh one.
_DROPPED = (asyncpg.PostgresConnectionError, asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.CrashShutdownError, asyncpg.exceptions.CannotConnectNowError,
            ConnectionError)
# What a store that cannot serve now raises: worth trying again later.
_UNAVAILABLE = (*_DROPPED, OSError, asyncpg.exceptions.OperatorInterventionError,
                asyncpg.exceptions.InsufficientResourcesError)

# Every read is a lookup by key, for which one plan serves all values: planned once per
# statement (PostgreSQL's own choice re-planned the list page on every call, about 40 % of
# its CPU for one). And a read never writes.
_SESSION = ("SET default_transaction_read_only = on; "
            "SET plan_cache_mode = force_generic_plan")

_Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
_Query: TypeAlias = Callable[[_Connection, str, Sequence[Any]], Awaitable[Any]]
Row = Any  # a row whose columns are its attributes: SQLAlchemy's, or a named tuple of ours
Statement = sa.Select[Any]


class Reads(Protocol):
    """Reads for the API and the dashboard, awaited on the event loop."""

    @property
    def dialect(self) -> str:
        """The store's dialect: `postgresql` or `sqlite`."""
        ...

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row `statement` selects with `params` bound."""
        ...

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        """The first row `statement` selects with `params` bound, or None."""
        ...

    async def close(self) -> None:
        """Let go of the connections."""
        ...


def reads_for(db: sa.Engine) -> Reads:
    """The reads of the store `db` opens: asyncpg for PostgreSQL, threads for SQLite."""
    if db.dialect.name == "postgresql":
        return PostgresReads(db.url)
    return ThreadedReads(db)


class ThreadedReads:
    """Each read runs on the store's read-only engine, in the thread pool."""

    def __init__(self, db: sa.Engine) -> None:
        self._db = reader(db)

    @property
    def dialect(self) -> str:
        """SQLite's."""
        return str(self._db.dialect.name)

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row, read in a thread."""
        return await to_thread.run_sync(self._all, statement, params)

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        """The first row, read in a thread."""
        return await to_thread.run_sync(self._first, statement, params)

    def _all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        with self._db.connect() as conn:
            return conn.execute(statement, params).all()

    def _first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        with self._db.connect() as conn:
            return conn.execute(statement, params).first()

    async def close(self) -> None:
        """Nothing to let go of: the engine belongs to the runtime."""


_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for asyncpg, with how to bind its values and make its rows."""

    compiled: SQLCompiler
    sql: str
    names: Sequence[str]  # the values' names, in the order of `$1`, `$2`…
    expanding: bool  # an `IN` list: the SQL is made for each call's values
    binders: Mapping[str, Callable[[Any], Any]]  # the values a column type converts
    make: Callable[[Any], Row]
    converters: Sequence[tuple[int, Callable[[Any], Any]]]  # the columns a type converts

    @classmethod
    def of(cls, statement: Statement) -> _Compiled:
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        sql, names = compiled.string, tuple(compiled.positiontup or ())
        expanding = bool(compiled.post_compile_params)
        if compiled.literal_execute_params and not expanding:
            # Values of the statement's own that go into its text (a separator, say): they
            # are the same on every call, so the text is made once.
            literal = {compiled.bind_names[bind] for bind in compiled.literal_execute_params}
            state = compiled.construct_expanded_state(
                {name: None for name in names if name not in literal})
            sql, names = state.statement, tuple(state.positiontup or ())
        binders = {name: processor for name, bind in compiled.binds.items()
                   if (processor := bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT))}
        columns = list(statement.selected_columns)
        converters = [(i, processor) for i, column in enumerate(columns)
                      if (processor := column.type.dialect_impl(_DIALECT)
                          .result_processor(_DIALECT, None))]
        row = collections.namedtuple("Row", statement.selected_columns.keys(),  # type: ignore[misc]
                                     rename=True)
        return cls(compiled, sql, names, expanding, binders, row._make, converters)

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Sequence[Any]]:
        """The SQL and the positional values for `params`."""
        values = dict(params)
        for name, convert in self.binders.items():
            if name in values:
                value = values[name]
                values[name] = ([convert(v) for v in value] if isinstance(value, list)
                                else convert(value))
        if self.expanding:
            state = self.compiled.construct_expanded_state(values)
            return state.statement, state.positional_parameters
        full = self.compiled.construct_params(values)
        return self.sql, [full[name] for name in self.names]

    def rows(self, records: Sequence[asyncpg.Record]) -> list[Row]:
        """`records` as rows whose columns are attributes, each converted by its type."""
        if not self.converters:
            return [self.make(record) for record in records]
        made = []
        for record in records:
            values = list(record.values())
            for i, convert in self.converters:
                values[i] = convert(values[i])
            made.append(self.make(values))
        return made


async def _keep(_conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is: reads change no session state, so the
    pool's own reset (a round trip of `RESET ALL` and more per read) is not needed. It must
    not be put back: `RESET ALL` would also undo the settings `_prepare` made."""


async def _prepare(conn: asyncpg.Connection) -> None:
    """A new connection reads only, plans each statement once, and parses JSON columns, as
    SQLAlchemy parses them.

    The settings are sent once connected rather than among the startup parameters: a pooler
    such as PgBouncer refuses a connection whose startup names a setting it does not track.
    """
    await conn.execute(_SESSION)
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, schema="pg_catalog", encoder=_json_text,
                                  decoder=orjson.loads)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class PostgresReads:
    """Reads on a pool of asyncpg connections of their own, made in the running event loop
    at the first read and closed by `close`."""

    def __init__(self, url: sa.URL, *, size: int = READ_CONNECTIONS) -> None:
        timeout = url.query.get("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        self._dsn = (url.set(drivername="postgresql")
                     .difference_update_query(_LIBPQ_ONLY)
                     .render_as_string(hide_password=False))
        self._connect_timeout = float(timeout if isinstance(timeout, str | int | float)
                                      else timeout[0])
        self._size = size
        self._pools: dict[asyncio.AbstractEventLoop, asyncpg.Pool] = {}
        self._statements: dict[int, tuple[Statement, _Compiled]] = {}
        self._watchers: list[Callable[[str, Sequence[Any]], None]] = []

    @property
    def dialect(self) -> str:
        """PostgreSQL's."""
        return "postgresql"

    def watch(self, watcher: Callable[[str, Sequence[Any]], None]) -> None:
        """Call `watcher` with the SQL and the values of every read before it runs."""
        self._watchers.append(watcher)

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row."""
        compiled = self._compiled(statement)
        return compiled.rows(await self._run(compiled, params, _fetch))

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        """The first row, or None."""
        compiled = self._compiled(statement)
        record = await self._run(compiled, params, _fetchrow)
        return None if record is None else compiled.rows([record])[0]

    async def close(self) -> None:
        """Close every connection, waiting a little for reads under way, then not. The
        pools of other event loops are closed at once, in their own loops."""
        running = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        for loop, other in pools.items():
            if loop is not running:
                _terminate(loop, other)
        pool = pools.get(running)
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_SECONDS)
            except TimeoutError:
                pool.terminate()

    def _compiled(self, statement: Statement) -> _Compiled:
        # Statements are module constants, so their identity is their key; the statement is
        # kept beside its compiled form so that its id is never another's. A statement built
        # per call would be compiled on every call and fill this: it is emptied at a bound.
        found = self._statements.get(id(statement))
        if found is None:
            if len(self._statements) >= _COMPILED_KEPT:
                self._statements.clear()
            found = self._statements[id(statement)] = (statement, _Compiled.of(statement))
        return found[1]

    async def _run(self, compiled: _Compiled, params: Mapping[str, Any], how: _Query) -> Any:
        sql, values = compiled.bind(params)
        for watcher in self._watchers:
            watcher(sql, values)
        try:
            try:
                return await self._on_a_connection(how, sql, values)
            except Exception as exc:
                if not _dropped(exc):
                    raise
                # The server dropped the connection, and likely every other in the pool (a
                # restart, a failover): replace them all, and read once more.
                log.warning("store connection lost; the read runs again on a fresh one",
                            error=_reason(exc))
                pool = self._pools.get(asyncio.get_running_loop())
                if pool is not None:  # else closed meanwhile: the read below makes another
                    await pool.expire_connections()
            return await self._on_a_connection(how, sql, values)
        except Exception as exc:
            if _dropped(exc) or isinstance(exc, _UNAVAILABLE):  # a timeout (OSError) too
                raise StoreUnavailable(_reason(exc)) from exc
            raise

    async def _on_a_connection(self, how: _Query, sql: str, values: Sequence[Any]) -> Any:
        pool = self._pools.get(asyncio.get_running_loop()) or await self._start()
        # No timeout of its own (a timer per read costs 5 % of one): a read waits at most for
        # another's statement, which has one, or for a connect, which has one too.
        async with pool.acquire() as conn:
            return await how(conn, sql, values)

    async def _start(self) -> asyncpg.Pool:
        """A pool for the running event loop, whose connections open as reads need them."""
        loop = asyncio.get_running_loop()
        for gone in [other for other in self._pools if other.is_closed()]:
            _terminate(gone, self._pools.pop(gone))
        pool = self._pools[loop] = asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._size, reset=_keep,
            init=_prepare, timeout=self._connect_timeout,
            command_timeout=STATEMENT_TIMEOUT_SECONDS,
            # A plan is made again once it is a second old, as on the store's other
            # connections: a plan made while a young store's tables were empty would go on
            # scanning them after they grew.
            max_cached_statement_lifetime=max(1, round(PLANS_KEPT_SECONDS)),
            statement_cache_size=256,
            server_settings={"application_name": "policyjobs-api"})
        # With no connection to open first, this only sets the pool up, without a pause in
        # which another read could find it half made.
        await pool
        return pool


def _terminate(loop: asyncio.AbstractEventLoop, pool: asyncpg.Pool) -> None:
    """Drop `pool`'s connections at once, in `loop`, the one that made them. A closed loop
    can run nothing more: its connections are let go, and their sockets closed when they
    are collected."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(pool.terminate)


async def _fetch(conn: _Connection, sql: str, values: Sequence[Any]) -> Any:
    return await conn.fetch(sql, *values)


async def _fetchrow(conn: _Connection, sql: str, values: Sequence[Any]) -> Any:
    return await conn.fetchrow(sql, *values)


def _dropped(exc: BaseException) -> bool:
    """Whether `exc` says the connection is gone, rather than the store slow or full."""
    return isinstance(exc, _DROPPED) or (isinstance(exc, asyncpg.InterfaceError)
                                         and "closed" in str(exc))


def _reason(exc: BaseException) -> str:
    """The driver's first line: what went wrong."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
