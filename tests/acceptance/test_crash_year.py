"""The short form of `bench/run crash`: a billing year on PostgreSQL with four worker
processes, three of them SIGKILLed and PostgreSQL restarted once along the way, after which
the books balance (cancellations, their reversals and overpayments included: the money adds
up), nothing is doubled and nothing is stuck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_a_year_survives_sigkills_and_a_database_restart() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.year", "--policies", "120", "--workers", "4",
         "--kills", "3", "--restarts", "1", "--lease", "3s"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540, check=False)
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["chaos"] == {"workers killed": 3, "PostgreSQL restarts": 1}, done.stderr
    assert figures["books"] == dict.fromkeys(figures["books"], 0), figures["books"]
    assert {"policies billed for cover after their cancellation",
            "reinstated policies billed other than their premium",
            "accounts whose payments are not what was settled plus their credit"} <= set(
        figures["books"])
    assert figures["payments"]["cancellations"] > 0
    assert figures["payments"]["reinstatements"] > 0
    assert figures["payments"]["overpaid"] > 0
    assert figures["payments"]["sent twice"] > 0
    assert figures["books_balanced"] is True
    # A killed worker takes its CPU count with it, and the restart replaced the postmaster.
    assert figures["cpu_s"]["workers"] is None
    assert figures["cpu_s"]["postgres"] is None
    assert figures["made"]["invoices"] > 0
    assert figures["made"]["delinquencies"] > 0
    assert done.returncode == 0, done.stderr[-3000:]
