"""Documents jobs end to end: intake, rendering, the nine endpoints, errors and retriggers;
each on both stores and both document storages (the home's folder, and a bucket of a real
S3 protocol server)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from policyjobs.settings import bucket_of
from policyjobs.testing.s3 import S3Server
from tests.support.engine_domain import job_row
from tests.support.http import MakeToken, assert_problem, bearer
from tests.support.operations import act

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml").read_text()
TERM = {"startTime": "2027-01-01T05:00:00Z", "endTime": "2028-01-01T05:00:00Z"}
BROKEN = """
documents:
  timeoutSeconds: 1
  definitions:
    - {staticName: fine, name: Fine, trigger: validated, scope: quote, format: text,
       template: "Quote {{ reference.locator }}"}
    - {staticName: missingData, name: Missing, trigger: validated, scope: quote, format: html,
       template: "<p>\\n{{ event.data.nothing.here }}</p>"}
    - {staticName: badSyntax, name: Bad, trigger: validated, scope: quote, format: html,
       template: "{% for %}"}
    - {staticName: badPdf, name: Huge, trigger: validated, scope: quote, format: pdf,
       template: "<div style='font-size: 1e308px'>x</div>"}
    - {staticName: slow, name: Slow, trigger: accepted, scope: quote, format: pdf,
       template: "{% for i in range(event.data.lines) %}<p>line {{ i }}</p>{% endfor %}"}
"""


def quote(locator: str, trigger: str = "priced", **data: Any) -> dict[str, Any]:
    """A quote event."""
    return {"type": "quote", "trigger": trigger, "locator": locator, "accountLocator": "A-1",
            "term": TERM, "charges": [{"locator": "C-1", "chargeType": "premium",
                                       "amount": "1200.00"}],
            "data": {"insured": {"name": "Ada Lovelace"}, **data}}


def transaction(locator: str, segments: int = 2) -> dict[str, Any]:
    """An issued issuance whose term is cut into `segments` segments of a month each."""
    starts = [f"2027-{month:02d}-01T05:00:00Z" for month in range(1, segments + 1)]
    ends = [*starts[1:], TERM["endTime"]]
    return {"type": "transaction", "trigger": "issued", "transactionType": "issuance",
            "locator": locator, "policyLocator": "P-1", "termLocator": "TERM-1",
            "accountLocator": "A-1",
            "segments": [{"locator": f"S-{i}", "startTime": start, "endTime": end, "charges": [
                              {"locator": f"C-{i}", "chargeType": "premium", "amount": "100"}]}
                         for i, (start, end) in enumerate(zip(starts, ends, strict=True))]}


def stored_files(runtime: Runtime, tenant: str) -> list[str]:
    """The names of the tenant's files in the runtime's document storage."""
    url = runtime.settings.documents_url
    if url is None:
        return sorted(path.name for path in (runtime.settings.home / "documents" / tenant)
                      .iterdir())
    bucket, prefix = bucket_of(url)
    keys = S3Server(os.environ["AWS_ENDPOINT_URL"]).keys(bucket)
    return sorted(key.rsplit("/", 1)[-1] for key in keys
                  if key.startswith(f"{prefix}/{tenant}/"))


class Docs:
    """A tenant, its token and helpers over the documents API."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken,
                 config: str = EXAMPLE) -> None:
        self.client = client
        self.tenant = runtime.create_tenant(runtime.tenant_configs.load(config))
        self.token = make_token(self.tenant, "documents.read", "documents.trigger",
                                "events.write", "admin")
        self.headers = bearer(self.token)

    def send(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": list(events)})
        assert response.status_code == 202, response.text
        return list(response.json()["events"])

    def settle(self) -> None:
        idle = self.client.get("/admin/idle", params={"timeout": 60}, headers=self.headers)
        assert idle.json() == {"idle": True}

    def url(self, path: str) -> str:
        return f"/document/{self.tenant}/documents/{path}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(self.url(path), headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str) -> Any:
        return self.client.post(self.url(path), headers=self.headers)


@pytest.fixture(params=["folder", "bucket"])
def documents_url(request: pytest.FixtureRequest) -> str | None:
    """The runtime's documents in its home's folder, or in a bucket."""
    return None if request.param == "folder" else str(request.getfixturevalue("bucket_url"))


@pytest.fixture
def docs(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Docs:
    """A tenant configured from examples/tenant.yaml."""
    return Docs(client, runtime, make_token)


@pytest.fixture
def broken(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Docs:
    """A tenant whose documents fail in every way, with a one-second deadline."""
    return Docs(client, runtime, make_token, BROKEN)


def test_a_priced_quote_renders_its_pdf(docs: Docs) -> None:
    [receipt] = docs.send(quote("Q-1"))
    [job_ref] = [j for j in receipt["jobs"] if j["kind"] == "documents"]
    docs.settle()
    job = docs.get(f"quote/Q-1/jobs/{job_ref['locator']}")
    assert job["status"] == "finished"
    assert job["documentTrigger"] == "priced"
    assert job["referenceType"] == "quote"
    assert job["referenceLocator"] == "Q-1"
    assert job["processingErrors"] is None
    assert job["childrenJobs"] == []
    assert (job["transactionLocator"], job["segmentLocator"], job["isConsolidation"]) == (
        None, None, False)
    [document] = job["documents"]
    assert document["staticName"] == "quoteSummary"
    assert document["documentInstanceState"] == document["state"] == "ready"
    meta = docs.get(document["locator"])
    assert meta["documentFormat"] == "pdf"
    assert meta["readyAt"]
    data = meta["renderingData"]  # what the template saw
    assert data["reference"] == {"type": "quote", "locator": "Q-1"}
    assert data["document"]["staticName"] == "quoteSummary"
    assert "Ada Lovelace" in json.dumps(data["event"])
    response = docs.client.get(docs.url(f"{document['locator']}/document"), headers=docs.headers)
    assert response.headers["content-type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Quote Q-1" in text
    assert "Ada Lovelace" in text
    assert "1200.00" in text


def test_documents_outlive_their_pruned_jobs(docs: Docs, runtime: Runtime) -> None:
    docs.send(quote("Q-1"))
    docs.settle()
    [job] = docs.get("quote/Q-1/jobs/list")["items"]
    [document] = docs.get(f"quote/Q-1/jobs/{job['locator']}")["documents"]
    far = datetime(9000, 1, 1, tzinfo=UTC)
    with runtime.db.begin() as conn:  # as POLICYJOBS_PRUNE_AFTER does, for every ended job
        assert runtime.queue.backend.prune(conn, far) >= 1
    assert docs.get("quote/Q-1/jobs/list")["items"] == []
    assert docs.get(document["locator"])["documentInstanceState"] == "ready"
    response = docs.client.get(docs.url(f"{document['locator']}/document"), headers=docs.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"


def test_no_definition_no_job(docs: Docs) -> None:
    [receipt] = docs.send(quote("Q-2", trigger="underwritten"))
    assert receipt["jobs"] == []
    assert docs.get("quote/Q-2/jobs/list") == {"listCompleted": True, "items": []}


def test_a_transaction_renders_segments_in_children(docs: Docs) -> None:
    [receipt] = docs.send(transaction("T-1", segments=2))
    parent = receipt["jobs"][0]["locator"]
    docs.settle()
    job = docs.get(f"transaction/T-1/jobs/{parent}")
    assert job["status"] == "finished"
    assert len(job["childrenJobs"]) == 2
    assert [d["staticName"] for d in job["documents"]] == ["policyDeclarations"]
    # the vendor's fields beside the spec's
    assert (job["transactionLocator"], job["segmentLocator"], job["isConsolidation"]) == (
        "T-1", None, False)
    for index, child in enumerate(job["childrenJobs"]):
        segment = docs.get(f"segment/S-{index}/jobs/{child}")
        assert segment["status"] == "finished"
        assert segment["referenceType"] == "segment"
        assert (segment["transactionLocator"], segment["segmentLocator"]) == ("T-1",
                                                                               f"S-{index}")
        [document] = segment["documents"]
        html = docs.client.get(docs.url(f"{document['locator']}/document"), headers=docs.headers)
        assert html.headers["content-type"] == "text/html; charset=utf-8"
        assert f"Segment S-{index}" in html.text
    listed = docs.get("segment/S-1/jobs/list")["items"]
    assert [i["locator"] for i in listed] == [job["childrenJobs"][1]]


def test_lists_page_and_go_bare(docs: Docs) -> None:
    made = [docs.send(quote("Q-3"))[0]["jobs"][0]["locator"] for _ in range(3)]
    page = docs.get("quote/Q-3/jobs/list", count=2)
    assert page["listCompleted"] is False
    assert [i["locator"] for i in page["items"]] == made[:2]
    assert set(page["items"][0]) == {"locator", "referenceType", "status", "createdAt"}
    bare = docs.get("quote/Q-3/jobs/list", extended="false", offset=2)
    assert [i["locator"] for i in bare] == made[2:]


def test_each_error_state_fails_the_job_and_the_rest_render(broken: Docs) -> None:
    job_locator = broken.send(quote("Q-9", trigger="validated"))[0]["jobs"][0]["locator"]
    broken.settle()
    job = broken.get(f"quote/Q-9/jobs/{job_locator}")
    assert job["status"] == "failed"
    states = {d["staticName"]: d for d in job["documents"]}
    assert states["fine"]["documentInstanceState"] == "ready"
    assert states["missingData"]["documentInstanceState"] == "dataError"
    assert broken.get(states["missingData"]["locator"])["renderingData"]["event"]  # to compare
    assert "missingData line 2" in states["missingData"]["processingErrors"]
    assert states["badSyntax"]["documentInstanceState"] == "renderError"
    assert states["badPdf"]["documentInstanceState"] == "conversionError"
    for name in ("missingData", "badSyntax", "badPdf"):
        assert name in job["processingErrors"]
    assert broken.get(states["fine"]["locator"])["documentInstanceState"] == "ready"
    body = assert_problem(broken.client.get(
        broken.url(f"{states['badPdf']['locator']}/document"), headers=broken.headers), 409)
    assert "conversionError" in body["detail"]


def test_a_failed_job_is_retriggered_one_at_a_time(broken: Docs) -> None:
    job_locator = broken.send(quote("Q-8", trigger="validated"))[0]["jobs"][0]["locator"]
    broken.settle()
    response = broken.post(f"quote/Q-8/jobs/{job_locator}/trigger")
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    broken.settle()
    job = broken.get(f"quote/Q-8/jobs/{job_locator}")
    assert job["status"] == "failed"  # the templates are still broken
    assert job["documents"][0]["documentInstanceState"] == "ready"  # kept, not re-rendered


def test_a_retrigger_renders_the_templates_as_the_tenant_defines_them_now(
        broken: Docs, runtime: Runtime) -> None:
    job_locator = broken.send(quote("Q-6", trigger="validated"))[0]["jobs"][0]["locator"]
    broken.settle()
    assert broken.get(f"quote/Q-6/jobs/{job_locator}")["status"] == "failed"
    fixed = (BROKEN.replace('"Quote {{ reference.locator }}"', '"Changed {{ reference.locator }}"')
             .replace("{{ event.data.nothing.here }}", "Data of {{ reference.locator }}")
             .replace("Missing,", "Found,")
             .replace('"{% for %}"', '"{% for i in [1, 2] %}{{ i }}{% endfor %}"'))
    fixed = "\n".join(line for line in fixed.splitlines()  # badPdf's definition is gone
                      if "badPdf" not in line and "1e308px" not in line)
    runtime.configure_tenant(broken.tenant, runtime.tenant_configs.load(fixed))
    assert broken.post(f"quote/Q-6/jobs/{job_locator}/trigger").status_code == 200
    broken.settle()

    job = broken.get(f"quote/Q-6/jobs/{job_locator}")
    states = {d["staticName"]: d for d in job["documents"]}
    assert states["missingData"]["documentInstanceState"] == "ready"
    assert states["missingData"]["name"] == "Found"
    assert states["badSyntax"]["documentInstanceState"] == "ready"
    assert states["badPdf"]["documentInstanceState"] == "conversionError"  # its own, kept
    assert job["status"] == "failed"
    second = job["processingErrors"].split("attempt 2:")[1]  # each attempt's errors, in turn
    assert "badPdf" in second
    assert "badSyntax" not in second

    def text(name: str) -> str:
        response = broken.client.get(broken.url(f"{states[name]['locator']}/document"),
                                     headers=broken.headers)
        assert response.status_code == 200, response.text
        return str(response.text)

    assert "Data of Q-6" in text("missingData")
    assert text("fine") == "Quote Q-6"  # ready before the change: kept as it was rendered


def test_a_bulk_retry_of_failed_documents_jobs_retriggers_each(broken: Docs,
                                                               runtime: Runtime) -> None:
    job_locator = broken.send(quote("Q-9", trigger="validated"))[0]["jobs"][0]["locator"]
    broken.settle()
    done = act(broken, "retry", kind="documents", status="failed")
    assert (done["matched"], done["acted"]) == (1, 1)
    job = broken.get(f"quote/Q-9/jobs/{job_locator}")
    assert job["status"] == "failed"  # the templates are still broken: it ran, and says so
    assert job_row(runtime.db, job_locator)["attempt"] == 2


def test_a_timed_out_job_is_retriggered_and_completes(broken: Docs, runtime: Runtime) -> None:
    job_locator = broken.send(quote("Q-7", trigger="accepted", lines=4000))[0]["jobs"][0][
        "locator"]
    deadline = time.monotonic() + 30
    while "timed out" not in (broken.get(f"quote/Q-7/jobs/{job_locator}")[
            "processingErrors"] or ""):
        assert time.monotonic() < deadline, "the job was never marked timed out"
        time.sleep(0.1)
    broken.settle()  # the render was killed at the deadline: nothing runs, nothing is due
    job = broken.get(f"quote/Q-7/jobs/{job_locator}")
    assert job["status"] == "running"
    assert job["documents"][0]["documentInstanceState"] != "ready"
    # the operator gives renders more time, then retriggers
    runtime.configure_tenant(broken.tenant, runtime.tenant_configs.load(
        BROKEN.replace("timeoutSeconds: 1", "timeoutSeconds: 120")))
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(broken.post("quote/Q-7/trigger")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = sorted((r.json() for r in results), key=len)
    assert bodies[0] == []
    assert [j["locator"] for j in bodies[1]] == [job_locator]
    broken.settle()
    job = broken.get(f"quote/Q-7/jobs/{job_locator}")
    assert job["status"] == "finished"
    [document] = job["documents"]
    assert document["documentInstanceState"] == "ready"
    assert stored_files(runtime, broken.tenant) == [f"{document['locator']}.pdf"]


BURST = """
documents:
  timeoutSeconds: 1
  definitions:
    - {staticName: summary, name: Summary, trigger: accepted, scope: quote, format: pdf,
       template: "<h1>Quote {{ reference.locator }}</h1><p>{{ event.data.insured.name }}</p>
                  {% for i in range(100) %}<p>Clause {{ i }}</p>{% endfor %}"}
"""


@pytest.fixture
def one_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runtime built in the test renders one document at a time."""
    monkeypatch.setenv("POLICYJOBS_RENDERERS", "1")


def test_a_burst_waits_in_the_queue_far_past_the_deadline_and_every_job_finishes(
        one_renderer: None, client: TestClient, runtime: Runtime,
        make_token: MakeToken) -> None:
    burst = Docs(client, runtime, make_token, BURST)
    burst.send(*[quote(f"B-{i}", trigger="accepted") for i in range(40)])
    burst.settle()

    listed = [burst.get(f"quote/B-{i}/jobs/list")["items"][0]["locator"] for i in range(40)]
    jobs = [burst.get(f"quote/B-{i}/jobs/{job}") for i, job in enumerate(listed)]

    assert [job["status"] for job in jobs] == ["finished"] * 40
    assert [job["processingErrors"] for job in jobs] == [None] * 40
    created = min(datetime.fromisoformat(job["createdAt"]) for job in jobs)
    completed = max(datetime.fromisoformat(job["completedAt"]) for job in jobs)
    # the last job waited in the queue well past the one-second deadline, and still finished
    assert (completed - created).total_seconds() > 1.5, "the burst drained within the deadline"


def test_retriggering_what_is_not_timed_out_does_nothing(docs: Docs) -> None:
    job_locator = docs.send(quote("Q-6"))[0]["jobs"][0]["locator"]
    docs.settle()
    assert docs.post("quote/Q-6/trigger").json() == []
    assert_problem(docs.post(f"quote/Q-6/jobs/{job_locator}/trigger"), 409)


def test_wrong_reference_type_locator_or_tenant_is_404(docs: Docs, client: TestClient,
                                                       runtime: Runtime,
                                                       make_token: MakeToken) -> None:
    job_locator = docs.send(quote("Q-5"))[0]["jobs"][0]["locator"]
    docs.settle()
    assert_problem(client.get(docs.url(f"quote/Q-4/jobs/{job_locator}"), headers=docs.headers),
                   404)
    assert_problem(client.get(docs.url(f"transaction/Q-5/jobs/{job_locator}"),
                              headers=docs.headers), 404)
    other = Docs(client, runtime, make_token)
    assert_problem(client.get(other.url(f"quote/Q-5/jobs/{job_locator}"),
                              headers=other.headers), 404)
    document = docs.get(f"quote/Q-5/jobs/{job_locator}")["documents"][0]["locator"]
    assert_problem(client.get(other.url(document), headers=other.headers), 404)
    assert_problem(client.get(other.url(f"{document}/document"), headers=other.headers), 404)
    assert_problem(client.get(docs.url("invoices/INV-1/jobs"), headers=docs.headers), 404)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "quote/Q/jobs/list"), ("GET", "quote/Q/jobs/J"), ("POST", "quote/Q/trigger"),
    ("GET", "transaction/T/jobs/list"), ("GET", "transaction/T/jobs/J"),
    ("POST", "transaction/T/trigger"), ("GET", "segment/S/jobs/list"),
    ("GET", "segment/S/jobs/J"), ("POST", "segment/S/trigger"), ("GET", "D"),
    ("GET", "D/document"), ("POST", "quote/Q/jobs/J/trigger"), ("GET", "invoices/I/jobs"),
])
def test_every_endpoint_guards_itself(docs: Docs, client: TestClient, runtime: Runtime,
                                      make_token: MakeToken, method: str, path: str) -> None:
    assert_problem(client.request(method, docs.url(path)), 401)
    other = Docs(client, runtime, make_token)
    assert_problem(client.request(method, docs.url(path), headers=other.headers), 403)
    permission = "documents.read" if method == "POST" else "documents.trigger"
    wrong = make_token(docs.tenant, permission)
    assert_problem(client.request(method, docs.url(path), headers=bearer(wrong)), 403)
    bad = f"/document/not-a-uuid/documents/{path}"
    assert_problem(client.request(method, bad, headers=bearer(make_token(docs.tenant, "admin"))),
                   400)
    if path.endswith("list"):
        assert_problem(client.get(docs.url(path), params={"count": 0}, headers=docs.headers),
                       400)
