"""Stores made by earlier releases, kept under `tests/releases/<commit>/` for the upgrade tests.

`python -m tests.support.releases build COMMIT [--policies N]` checks that commit out of
this repository, installs it in a virtual environment of its own, and for each store kind
(the embedded SQLite default, and a PostgreSQL database on a throwaway server) runs its
`policyjobs demo --exit`, then serves the store with that release's `serve --no-worker`
and records what its read API answers for every URL `answers.plan_urls` finds. It keeps:

- `release.json`: the commit, its schema revision and, per store, the admin token the
  answers were taken with;
- `<kind>-home.tar.gz`: the demo's `POLICYJOBS_HOME` (the SQLite file, the documents);
- `postgresql.sql.gz`: the PostgreSQL database, as `pg_dump --inserts` wrote it;
- `<kind>-answers.json.gz`: the recorded answers.

`python -m tests.support.releases upgrade COMMIT --by LATER` migrates a kept release's
stores with the `policyjobs migrate` of a later release, as a user who upgraded to it did,
and keeps them beside the originals (`sqlite-upgraded-home.tar.gz`,
`postgresql-upgraded.sql.gz`; `release.json` names the later release): stores upgraded
by a release whose migrations lost rows, which this one must repair.

The upgrade tests unpack these, migrate them with the code under test and ask again.
Building needs the package registry (the release's dependencies) and takes minutes; the
tests need neither.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from policyjobs.store.database import open_store
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres
from tests.support import answers

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ROOT / "tests" / "releases"
KINDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Release:
    """One kept release's files."""

    directory: Path

    @property
    def meta(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.directory / "release.json").read_text())
        return loaded

    def token(self, kind: str) -> str:
        """The admin token of the release's `kind` store."""
        return str(self.meta["tokens"][kind])

    def answers(self, kind: str) -> dict[str, answers.Answer]:
        with gzip.open(self.directory / f"{kind}-answers.json.gz", "rt") as file:
            loaded: dict[str, answers.Answer] = json.load(file)
        return loaded

    @property
    def upgraded_by(self) -> str | None:
        """The later release whose `migrate` made the kept upgraded stores, if any."""
        later = self.meta.get("upgradedBy")
        return None if later is None else str(later)

    def unpack_home(self, kind: str, into: Path, *, upgraded: bool = False) -> Path:
        """The release's `POLICYJOBS_HOME` for `kind` (as `upgraded_by` left it, if
        `upgraded`), unpacked under `into`."""
        name = f"{kind}-upgraded-home" if upgraded and kind == "sqlite" else f"{kind}-home"
        with tarfile.open(self.directory / f"{name}.tar.gz") as archive:
            archive.extractall(into, filter="data")
        return into / "home"

    def load_postgres(self, url: str, *, upgraded: bool = False) -> None:
        """Fill the empty database at `url` with the release's PostgreSQL store (as
        `upgraded_by` left it, if `upgraded`)."""
        name = "postgresql-upgraded" if upgraded else "postgresql"
        script = gzip.decompress((self.directory / f"{name}.sql.gz").read_bytes()).decode()
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute(script.encode())


def kept_releases() -> list[Release]:
    """Every release kept under `tests/releases`, oldest first."""
    found = [Release(path.parent) for path in RELEASES.glob("*/release.json")]
    return sorted(found, key=lambda release: release.meta["revision"])


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def build(commit: str, policies: int | None) -> Path:
    """Make and keep the stores of `commit`'s demo; the directory they are kept in."""
    full = _git("rev-parse", commit)
    work = Path(tempfile.mkdtemp(prefix=f"policyjobs-release-{full[:7]}-"))
    target = RELEASES / full[:7]
    try:
        release = _install(full, work)
        revision = _head_revision(full)
        target.mkdir(parents=True, exist_ok=True)
        server = start_postgres()
        try:
            tokens = {kind: _fill(kind, release, work, target, server, policies)
                      for kind in KINDS}
        finally:
            server.stop()
        meta = {"commit": full, "revision": revision, "tokens": tokens,
                "policies": policies or "the demo's default"}
        (target / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def upgrade(commit: str, later: str) -> Path:
    """Migrate the kept stores of `commit` with the `policyjobs migrate` of `later`."""
    full, later_full = _git("rev-parse", commit), _git("rev-parse", later)
    release = Release(RELEASES / full[:7])
    work = Path(tempfile.mkdtemp(prefix=f"policyjobs-upgrade-{full[:7]}-"))
    try:
        policyjobs = _install(later_full, work)
        home = release.unpack_home("sqlite", work / "sqlite")
        _migrate(policyjobs, work, {"POLICYJOBS_HOME": str(home)})
        with tarfile.open(release.directory / "sqlite-upgraded-home.tar.gz", "w:gz") as archive:
            archive.add(home, arcname="home")
        server = start_postgres()
        try:
            url = server.create_database("release")
            release.load_postgres(url)
            _migrate(policyjobs, work, {"POLICYJOBS_HOME": str(work / "pg-home"),
                                        "POLICYJOBS_DATABASE_URL": url})
            _dump(server, release.directory / "postgresql-upgraded.sql.gz")
        finally:
            server.stop()
        meta = release.meta | {"upgradedBy": later_full}
        (release.directory / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return release.directory


def _migrate(policyjobs: Path, work: Path, env: dict[str, str]) -> None:
    print(f"== migrate {', '.join(env.values())}", flush=True)
    subprocess.run([str(policyjobs), "migrate"], env={**os.environ, **env}, cwd=work,
                   check=True)


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def _head_revision(commit: str) -> str:
    names = _git("ls-tree", "--name-only", commit, "policyjobs/store/migrations/versions/")
    revisions: list[str] = re.findall(r"/(\d{4})_", names)
    return max(revisions)


def _install(commit: str, work: Path) -> Path:
    """The release checked out and installed in a venv of its own as its README said, from
    its clone (`pip install -e`: its demo reads `examples/`); its `policyjobs`."""
    source = work / "source"
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-e", str(source)], check=True)
    return venv / "bin" / "policyjobs"


def _fill(kind: str, policyjobs: Path, work: Path, target: Path, server: PostgresServer,
          policies: int | None) -> str:
    """Run the release's demo on a new store of `kind`, record its answers, keep it; the
    token the answers were taken with."""
    home = work / kind / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "POLICYJOBS_HOME": str(home)}
    env.pop("POLICYJOBS_DATABASE_URL", None)
    url = f"sqlite:///{home / 'policyjobs.db'}"
    if kind == "postgresql":
        url = env["POLICYJOBS_DATABASE_URL"] = server.create_database("release")
    demo = [str(policyjobs), "demo", "--exit", "--port", "0"]
    if policies is not None:
        demo += ["--policies", str(policies)]
    print(f"== {kind}: {' '.join(demo[1:])}", flush=True)
    subprocess.run(demo, env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run([str(policyjobs), "token", "create", "--tenant", "any",
                            "--permissions", "admin"], env=env, cwd=work, check=True,
                           capture_output=True, text=True).stdout.strip()
    recorded = _record(policyjobs, env, work, url, token)
    print(f"== {kind}: {len(recorded)} answers", flush=True)
    with gzip.open(target / f"{kind}-answers.json.gz", "wt") as file:
        json.dump(recorded, file, indent=1, sort_keys=True)
    if kind == "sqlite":
        with closing(sqlite3.connect(home / "policyjobs.db")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file: the WAL written back
    else:
        _dump(server, target / "postgresql.sql.gz")
    with tarfile.open(target / f"{kind}-home.tar.gz", "w:gz") as archive:
        archive.add(home, arcname="home",
                    filter=lambda info: None if info.name.endswith(("-wal", "-shm")) else info)
    return token


def _record(policyjobs: Path, env: dict[str, str], work: Path, url: str,
            token: str) -> dict[str, answers.Answer]:
    """What the release's own API answers for every URL over its store."""
    port = free_port()
    serve = subprocess.Popen([str(policyjobs), "serve", "--no-worker", "--test-clock",
                              "--port", str(port)], env=env, cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or serve.poll() is not None:
                raise RuntimeError("the release's server did not start")
            time.sleep(0.2)
        db = open_store(url)
        try:
            urls = answers.plan_urls(db)
        finally:
            db.dispose()
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as client:
            taken = answers.take(client.get, urls)
        # A route the release did not have yet is no answer of its.
        return {url: kept for url, kept in taken.items() if not _no_route(kept)}
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


def _no_route(kept: answers.Answer) -> bool:
    detail = str((kept.get("json") or {}).get("detail", ""))
    return kept["status"] in (404, 405) and detail.startswith("no route")


def _dump(server: PostgresServer, path: Path) -> None:
    """The release database as SQL that a plain connection can run: `pg_dump --inserts`,
    without the psql-only lines (`\\restrict`) that newer pg_dumps write."""
    dump = subprocess.run(
        [str(server.bindir / "pg_dump"), "--inserts", "--rows-per-insert=200", "--no-owner",
         "--no-privileges", "--no-comments", "-h", server.host, "-p", str(server.port),
         "-U", server.user, "release"], check=True, capture_output=True, text=True).stdout
    kept = [line for line in dump.splitlines() if not line.startswith("\\")]
    path.write_bytes(gzip.compress("\n".join(kept).encode() + b"\n", mtime=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.releases")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("build", help="make and keep an earlier release's stores")
    made.add_argument("commit")
    made.add_argument("--policies", type=int, help="the demo's book, where the release has it")
    later = commands.add_parser("upgrade", help="migrate a kept release's stores with a later "
                                                 "release's migrate")
    later.add_argument("commit")
    later.add_argument("--by", required=True, help="the later release's commit")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(args.commit, args.policies))
    else:
        print(upgrade(args.commit, args.by))
    return 0


if __name__ == "__main__":
    sys.exit(main())
