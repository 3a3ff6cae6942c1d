"""A worker process run exactly as the product runs one, for multi-process engine tests.

    POLICYJOBS_DATABASE_URL=… POLICYJOBS_PLUGINS=tests.support.engine_domain \\
        python -m tests.support.worker_process

It builds the runtime from the environment, starts the workers and the upkeep,
prints `READY_MARKER` once they run, and on SIGTERM or SIGINT stops gracefully
(letting running jobs finish for the shutdown grace) and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from policyjobs.app import build_runtime
from policyjobs.logs import configure_logging
from policyjobs.settings import Settings

READY_MARKER = "policyjobs-test-worker ready"
REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.support.engine_domain"


class WorkerProcess:
    """A spawned `python -m tests.support.worker_process`, its output going to `log`."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        """The process id, which every worker name of the process contains."""
        return self.process.pid

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the workers run; fail if the process dies or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while READY_MARKER not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.pid} exited {self.process.returncode}:\n"
                                   f"{self.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.pid} not ready in {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the process, as a crash would, and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """Ask the process to stop gracefully (SIGTERM)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def worker_env(database_url: str, overrides: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a worker process: the store, the test domain and short timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYJOBS_")}
    python_path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update({
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONUNBUFFERED": "1",
        "POLICYJOBS_DATABASE_URL": database_url,
        "POLICYJOBS_PLUGINS": PLUGIN,
        "POLICYJOBS_LEASE": "2s",
        "POLICYJOBS_POLL": "200ms",
        "POLICYJOBS_UPKEEP": "200ms",
    })
    env.update(overrides)
    return env


def spawn_worker(database_url: str, log: Path, overrides: Mapping[str, str] = {}) -> WorkerProcess:
    """Start one worker process, as the product starts one, from the repository root."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.worker_process"],
            cwd=REPO_ROOT, env=worker_env(database_url, overrides),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return WorkerProcess(process, log)


@contextmanager
def worker_processes(database_url: str, logs: Path, count: int = 1,
                     overrides: Mapping[str, str] = {}) -> Iterator[list[WorkerProcess]]:
    """`count` ready worker processes, killed on the way out whatever happened."""
    started: list[WorkerProcess] = []
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for index in range(count):
            started.append(spawn_worker(database_url, logs / f"worker-{index}.log", overrides))
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.kill()


def main() -> int:
    """Run workers until told to stop; the exit status."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)  # as `policyjobs worker` does
    runtime = build_runtime(settings)
    try:
        worker = runtime.start_workers()
        print(f"{READY_MARKER} pid={os.getpid()} worker={worker.name}", flush=True)
        while not stop.wait(0.1):
            pass
    finally:
        runtime.close()
    print(f"policyjobs-test-worker stopped pid={os.getpid()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
