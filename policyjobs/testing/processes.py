"""Processes, for the tests and the benchmarks: whether one runs, its children, and a
spawned one whose output goes to a log file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from policyjobs.testing.waiting import wait_until


def alive(pid: int) -> bool:
    """Whether `pid` runs: one that exited may linger as a zombie until it is reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stat(pid: int | str) -> list[str]:
    """The fields of `/proc/<pid>/stat` after the command's name, or [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def children_of(parent: int) -> list[int]:
    """The ids of the processes whose parent is `parent`."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and (fields := _stat(entry.name))
            and int(fields[1]) == parent]


def command_line(pid: int) -> list[str]:
    """The arguments process `pid` was started with, or [] once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


class Spawned:
    """A process started in a session of its own, its output (both streams) going to `log`."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log: Path,
                 cwd: Path | None = None) -> None:
        self.argv, self.env, self.log, self.cwd = list(argv), dict(env), log, cwd
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the tooling's own commands
                self.argv, env=self.env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def check(self) -> None:
        """`RuntimeError`, with the end of its log, if the process has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.argv[0]} (process {self.pid}) exited with "
                               f"{self.process.returncode}:\n{self.output()[-3000:]}")

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        """Until the process has printed `text`; fails if it exits first."""
        wait_until(lambda: text in self.output(), timeout=timeout, check=self.check,
                   what=f"process {self.pid} to print {text!r}", interval=0.05)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process and what it started, as a crash would, and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL whatever is left after `grace` seconds."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        if self.running():
            self.kill()
