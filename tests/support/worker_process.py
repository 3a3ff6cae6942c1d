"""Worker processes for multi-process engine tests: the product's own `policyjobs worker`,
with the test domain loaded as a plugin and short timings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from policyjobs.testing.processes import Spawned

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.support.engine_domain"
STARTED = '"event": "worker started"'  # the worker's log line once its threads run
STOPPED = '"event": "worker stopped"'


def worker_env(database_url: str, overrides: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a worker process: the store, the test domain and short timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYJOBS_")}
    python_path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update({
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONUNBUFFERED": "1",
        "POLICYJOBS_DATABASE_URL": database_url,
        "POLICYJOBS_PLUGINS": PLUGIN,
        "POLICYJOBS_LOG_FORMAT": "json",
        "POLICYJOBS_LOG_LEVEL": "info",
        "POLICYJOBS_LEASE": "2s",
        "POLICYJOBS_POLL": "200ms",
        "POLICYJOBS_UPKEEP": "200ms",
    })
    env.update(overrides)
    return env


def spawn_worker(database_url: str, log: Path, overrides: Mapping[str, str] = {}) -> Spawned:
    """Start one `policyjobs worker` process from the repository root."""
    return Spawned([sys.executable, "-m", "policyjobs", "worker"],
                   worker_env(database_url, overrides), log, cwd=REPO_ROOT)


@contextmanager
def worker_processes(database_url: str, logs: Path, count: int = 1,
                     overrides: Mapping[str, str] = {}) -> Iterator[list[Spawned]]:
    """`count` worker processes whose workers run, killed on the way out whatever
    happened."""
    started: list[Spawned] = []
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for index in range(count):
            started.append(spawn_worker(database_url, logs / f"worker-{index}.log", overrides))
        for worker in started:
            worker.wait_for(STARTED)
        yield started
    finally:
        for worker in started:
            worker.kill()
