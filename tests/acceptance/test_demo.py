"""`policyjobs demo` as the README's first command runs it: the year, the summary, and what
it prints to try, which must work as printed while it serves."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CURL = re.compile(r"^  curl .*$", re.MULTILINE)


def demo(home: Path, *args: str) -> subprocess.Popen[str]:
    # A crash of the process prints every thread's stack on stderr, which a failure shows.
    env = {**os.environ, "POLICYJOBS_HOME": str(home), "COLUMNS": "200",
           "PYTHONFAULTHANDLER": "1"}
    env.pop("POLICYJOBS_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "policyjobs", "demo", "--port", "0", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ctrl_c_stops)


def _ctrl_c_stops() -> None:
    """Ctrl-C as at a terminal, even where the tests run in the background: a shell starts
    a background job with SIGINT ignored, and its children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    """What the process printed up to the line holding `marker`."""
    assert process.stdout is not None
    deadline, lines = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    process.kill()
    errors = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"no {marker!r} in:\n{''.join(lines)}\n{errors}")


def test_the_year_runs_and_everything_it_prints_works_until_ctrl_c(tmp_path: Path) -> None:
    process = demo(tmp_path / "home")
    try:
        shown = read_until(process, "Serving until Ctrl-C", 240)
        assert "retried in bulk once the render deadline was raised" in shown
        assert re.search(r"bulk retry +│ job \w+: of the documents jobs still running, "
                         r"\d+ matched, [1-9]\d* retried", shown)
        assert "(cancelled after a lapse)" in shown
        assert re.search(r"invoices +│ \d+: (\d+ credit, )?\d+ paid late, \d+ paid on time, "
                         r"\d+ unpaid", shown)
        # The mid-term cancellation came after its next invoice: that is credited back.
        assert re.search(r"credited +│ \d+\.\d\d to account A-\d+", shown)
        for kind in ("documents", "installments", "invoicing.instance", "delinquency.event"):
            assert re.search(rf"│ {re.escape(kind)} +│", shown), kind
        for type_ in ("documents.document.ready", "installments.job.finished",
                      "invoicing.invoice.generated", "invoicing.payment.applied",
                      "delinquency.delinquency.created", "delinquency.delinquency.lapseTriggered"):
            assert re.search(rf"│ {re.escape(type_)} +│ +[1-9]\d* │", shown), type_
        assert re.search(r"│ all, each signature checked +│ +[1-9]\d* │", shown)
        assert "did not check out" not in shown
        lines = CURL.findall(shown)
        assert len(lines) >= 9
        for line in lines:
            # as printed, only failing on an HTTP error and quiet about its progress
            result = subprocess.run(["bash", "-c", line.replace("curl ", "curl -sSf ", 1)],
                                    capture_output=True, text=True, timeout=30, check=False)
            assert result.returncode == 0, (line, result.stderr)
            if "/metrics" in line:
                assert "policyjobs_jobs_finished_total" in result.stdout, line
            else:
                assert json.loads(result.stdout), line
        url = re.search(r"(http://127\.0\.0\.1:\d+)/dashboard", shown)
        token = re.search(r"Bearer (pjt_[\w-]+)", lines[0])
        assert url
        assert token
        dashboard_shows_the_year(url.group(1), token.group(1))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # never left running after the test
            raise
    assert process.returncode == 0, stderr


def dashboard_shows_the_year(url: str, token: str) -> None:
    with httpx.Client(base_url=url, follow_redirects=True) as browser:
        csrf = browser.get("/dashboard/login").cookies["policyjobs_login_csrf"]
        page = browser.post("/dashboard/login", data={"token": token, "csrf": csrf})
        assert page.status_code == 200
        assert "invoicing.generation" in page.text
        assert "delinquency.grace" in page.text


def test_exit_stops_after_the_summary(tmp_path: Path) -> None:
    process = demo(tmp_path / "home", "--exit", "--policies", "4")
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert "Jobs by kind and status" in stdout
    assert "Serving until Ctrl-C" not in stdout
    assert (tmp_path / "home" / "policyjobs.db").exists()
