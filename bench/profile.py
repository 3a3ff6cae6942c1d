"""Profile one of our workers with py-spy while it drains, and summarise the samples.

`py-spy record --format speedscope` writes one sampled profile per thread; the summary
adds them up and ranks frames by self time (the frame on top of the stack) and by total
time (the frame anywhere on the stack), as shares of all samples. Only samples of the
thread holding the GIL are recorded (`--gil`): with no-op handlers, the GIL is what a
worker's threads queue for, so these samples say where the worker's Python time goes;
time waiting for PostgreSQL (the GIL released in libpq) is not in them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO, Workers, say


def start_py_spy(output: Path, rate: int = 1000) -> Callable[[Workers], Callable[[], None]]:
    """A hook for `ours.throughput`: record the first worker until the run ends."""

    def hook(workers: Workers) -> Callable[[], None]:
        py_spy = shutil.which("py-spy") or str(Path(REPO, ".venv", "bin", "py-spy"))
        proc = subprocess.Popen(
            [py_spy, "record", "--format", "speedscope", "--rate", str(rate), "--nonblocking",
             "--function", "--full-filenames", "--gil",
             "--output", str(output), "--pid", str(workers.pids[0])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

        def stop() -> None:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if not output.exists():
                say(f"py-spy wrote no profile: {err.decode(errors='replace').strip()[-500:]}")

        return stop

    return hook


def _frame_name(frame: dict[str, Any]) -> str:
    where = str(frame.get("file", "")).replace(str(REPO) + "/", "")
    where = where.split("site-packages/")[-1]
    return f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})"


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    """Top frames by self and by total time across every thread of a speedscope profile."""
    data = json.loads(path.read_text())
    frames = [_frame_name(f) for f in data["shared"]["frames"]]
    self_weight: Counter[str] = Counter()
    total_weight: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    all_weight = 0.0
    samples = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            all_weight += weight
            samples += 1
            threads[profile.get("name", "?")] += weight
            self_weight[frames[stack[-1]]] += weight
            for name in {frames[i] for i in stack}:
                total_weight[name] += weight

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * w / all_weight, 1)) for name, w in counter.most_common(top)]

    return {
        "samples": samples,
        "threads": share(threads),
        "self": share(self_weight),
        "total": share(total_weight),
    }


def main() -> None:
    """`python -m bench.profile PROFILE.json`: print the summary."""
    import sys

    summary = summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25)
    for key in ("threads", "self", "total"):
        print(f"\n== by {key} (% of {summary['samples']:.0f} samples)")
        for name, pct in summary[key]:
            print(f"{pct:6.1f}%  {name}")


if __name__ == "__main__":
    main()
