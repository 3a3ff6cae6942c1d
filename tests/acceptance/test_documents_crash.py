"""Documents jobs across real worker processes on PostgreSQL, with workers killed mid-render."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.testing.processes import Spawned
from tests.acceptance.test_documents import stored_files
from tests.support.http import bearer
from tests.support.worker_process import worker_processes

pytestmark = pytest.mark.slow

QUOTES = 30
CONFIG = """
documents:
  timeoutSeconds: 30
  definitions:
    - staticName: summary
      name: Quote summary
      trigger: accepted
      scope: quote
      format: pdf
      template: |
        <h1>Quote {{ reference.locator }}</h1>
        <table>{% for i in range(40) %}<tr><td>line {{ i }}</td></tr>{% endfor %}</table>
"""
RENDERING = sa.text("""
    SELECT q.owner FROM job_queue q JOIN jobs j ON j.id = q.id
    JOIN documents_jobs d ON d.job_locator = j.locator
    WHERE q.status = 'leased' AND d.render_attempts > 0
""")


@pytest.fixture(params=["folder", "bucket"])
def documents_url(request: pytest.FixtureRequest) -> str | None:
    """The documents in a folder all the processes share, or in a bucket."""
    return None if request.param == "folder" else str(request.getfixturevalue("bucket_url"))


@pytest.fixture
def runtime(postgres_url: str, documents_url: str | None, tmp_path: Path) -> Iterator[Runtime]:
    """The app's runtime on PostgreSQL, running no workers itself."""
    settings = Settings(database_url=postgres_url, home=tmp_path / "home",
                        documents_url=documents_url)
    built = build_runtime(settings)
    try:
        yield built
    finally:
        built.close()


def owner_pid(owner: str) -> int:
    """The process id in a worker's name (host:pid:suffix)."""
    return int(owner.split(":")[-2])


def kill_one_rendering(runtime: Runtime, workers: list[Spawned]) -> Spawned:
    """SIGKILL a worker process while it holds a job that is rendering."""
    alive = {w.pid: w for w in workers if w.process.poll() is None}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with runtime.db.connect() as conn:
            owners = [row[0] for row in conn.execute(RENDERING)]
        victims = [alive[pid] for pid in map(owner_pid, owners) if pid in alive]
        if victims:
            victims[0].kill()
            return victims[0]
        time.sleep(0.02)
    raise AssertionError("no worker was ever seen rendering")


def stored(workers: list[Spawned]) -> Counter[str]:
    """How many times each document's file was written, from the workers' JSON logs."""
    counts: Counter[str] = Counter()
    for worker in workers:
        for line in worker.output().splitlines():
            if line.startswith("{") and '"document stored"' in line:
                counts[json.loads(line)["document"]] += 1
    return counts


def test_killed_workers_heal_without_a_retrigger(runtime: Runtime, postgres_url: str,
                                                 documents_url: str | None,
                                                 tmp_path: Path) -> None:
    tenant = runtime.create_tenant(runtime.tenant_configs.load(CONFIG))
    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=[tenant], permissions=["admin"], known=(),
                                now=runtime.clock.now())
    home = str(tmp_path / "home")
    overrides = {"POLICYJOBS_HOME": home}
    if documents_url is not None:
        overrides |= {"POLICYJOBS_DOCUMENTS_URL": documents_url,
                      **{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
    with worker_processes(postgres_url, tmp_path / "logs", count=3,
                          overrides=overrides) as workers, \
            TestClient(create_app(runtime)) as client:
        events = [{"type": "quote", "trigger": "accepted", "locator": f"Q-{i}",
                   "accountLocator": "A-1"} for i in range(QUOTES)]
        response = client.post(f"/platform/{tenant}/events", headers=bearer(token),
                               json={"events": events})
        assert response.status_code == 202, response.text
        killed = [kill_one_rendering(runtime, workers) for _ in range(2)]
        drained = client.get("/admin/idle", params={"timeout": 120}, headers=bearer(token))
        assert drained.json() == {"idle": True}
        jobs = [client.get(f"/document/{tenant}/documents/quote/Q-{i}/jobs/list",
                           headers=bearer(token)).json()["items"] for i in range(QUOTES)]
        details = [client.get(f"/document/{tenant}/documents/quote/Q-{i}/jobs/"
                              f"{listed[0]['locator']}", headers=bearer(token)).json()
                   for i, listed in enumerate(jobs)]
        served = [client.get(f"/document/{tenant}/documents/{d['locator']}/document",
                             headers=bearer(token))
                  for job in details for d in job["documents"]]

    assert all(len(listed) == 1 for listed in jobs)
    assert [job["status"] for job in details] == ["finished"] * QUOTES
    documents = [document for job in details for document in job["documents"]]
    assert [d["documentInstanceState"] for d in documents] == ["ready"] * QUOTES
    rescued = [job for job in details if "stopped heartbeating" in (job["processingErrors"] or "")]
    assert rescued, "no job was taken from a killed worker mid-render"
    assert not any("timed out" in (job["processingErrors"] or "") for job in details)
    assert stored(workers) == Counter({d["locator"]: 1 for d in documents})
    # Every file whole, and none that no document names (a killed writer left nothing).
    assert all(answer.status_code == 200 and answer.content.startswith(b"%PDF")
               and answer.content.rstrip().endswith(b"%%EOF") for answer in served)
    assert stored_files(runtime, tenant) == sorted(f"{d['locator']}.pdf" for d in documents)
    assert all(worker.process.returncode is not None for worker in killed)
