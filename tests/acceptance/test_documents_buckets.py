"""Documents in an S3-compatible bucket (moto's S3 server, over HTTP, through the product's
own client): the objects' keys and headers, presigned serving, a bucket that goes away and
comes back, storages that cannot be used, moving a local store into a bucket, and several
machines with no disk in common."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pypdf
import pytest
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings, bucket_of
from policyjobs.testing.postgres import free_port
from policyjobs.testing.processes import Spawned
from policyjobs.testing.s3 import S3Server, s3_process, s3_server
from tests.acceptance.conftest import CLOCK_START, token_maker
from tests.acceptance.test_documents import EXAMPLE, Docs, quote, transaction
from tests.support.engine_domain import clock_of
from tests.support.http import MakeToken, assert_problem
from tests.support.worker_process import REPO_ROOT, STARTED


@pytest.fixture
def documents_url(bucket_url: str) -> str:
    """The runtime's documents in a fresh bucket."""
    return bucket_url


@pytest.fixture
def docs(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Docs:
    """A tenant configured from examples/tenant.yaml, its documents in a bucket."""
    return Docs(client, runtime, make_token)


def rendered_quote(docs: Docs, locator: str) -> dict[str, str]:
    """Send a priced quote and wait for its document; the document."""
    docs.send(quote(locator))
    docs.settle()
    [job] = docs.get(f"quote/{locator}/jobs/list")["items"]
    [document] = docs.get(f"quote/{locator}/jobs/{job['locator']}")["documents"]
    assert document["documentInstanceState"] == "ready", document
    return dict(document)


def test_an_object_is_keyed_by_tenant_and_document_with_its_type_and_length(
        docs: Docs, runtime: Runtime, s3: S3Server) -> None:
    document = rendered_quote(docs, "Q-1")
    bucket, prefix = bucket_of(str(runtime.settings.documents_url))
    key = f"{prefix}/{docs.tenant}/{document['locator']}.pdf"
    assert s3.keys(bucket) == [key]
    content, headers = s3.object(bucket, key)
    assert headers["Content-Type"] == "application/pdf"
    assert int(headers["Content-Length"]) == len(content)
    served = docs.client.get(docs.url(f"{document['locator']}/document"), headers=docs.headers)
    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-length"] == str(len(content))
    assert len(pypdf.PdfReader(io.BytesIO(served.content)).pages) >= 1
    assert not (runtime.settings.home / "documents").exists()  # nothing written to disk


def test_presigned_serving_redirects_to_a_url_of_the_bucket_for_a_few_minutes(
        database_url: str, bucket_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, home=tmp_path / "home", test_clock=True,
                        documents_url=bucket_url, documents_serve="presigned",
                        poll="100ms", upkeep="200ms")
    runtime = build_runtime(settings)
    try:
        with TestClient(create_app(runtime, run_workers=True)) as client:
            docs = Docs(client, runtime, token_maker(runtime))
            document = rendered_quote(docs, "Q-1")
            answer = client.get(docs.url(f"{document['locator']}/document"),
                                headers=docs.headers, follow_redirects=False)
            assert answer.status_code == 307
            link = answer.headers["location"]
            assert "X-Amz-Expires=300" in link
            fetched = httpx.get(link, timeout=10)  # no credentials: the URL is signed
            assert fetched.status_code == 200
            assert fetched.content.startswith(b"%PDF")
            assert fetched.headers["content-type"] == "application/pdf"
            unready = client.get(docs.url("01ARZ3NDEKTSV4RRFFQ69G5FAV/document"),
                                 headers=docs.headers, follow_redirects=False)
            assert unready.status_code == 404  # the authorization stays with the API
    finally:
        runtime.close()


def test_a_bucket_that_goes_away_postpones_renders_and_answers_downloads_503(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    with s3_server(port) as own:
        for name, value in own.env.items():
            monkeypatch.setenv(name, value)
        url = f"s3://{own.create_bucket()}/documents"
    settings = Settings(database_url=database_url, home=tmp_path / "home", test_clock=True,
                        documents_url=url, poll="100ms", upkeep="200ms", lease="5s")
    runtime = build_runtime(settings)
    clock_of(runtime).set(CLOCK_START)
    try:
        with TestClient(create_app(runtime, run_workers=True),
                        raise_server_exceptions=False) as client:
            docs = Docs(client, runtime, token_maker(runtime))
            with s3_server(port):
                first = rendered_quote(docs, "Q-1")
                kept = client.get(docs.url(f"{first['locator']}/document"),
                                  headers=docs.headers).content
            # The bucket is away: a download answers 503, a render waits and tries again.
            away = client.get(docs.url(f"{first['locator']}/document"), headers=docs.headers)
            assert_problem(away, 503)
            assert away.headers["retry-after"].isdigit()
            [job] = [j for j in docs.send(quote("Q-2"))[0]["jobs"] if j["kind"] == "documents"]
            deadline = time.monotonic() + 60
            while "document storage" not in (
                    docs.get(f"quote/Q-2/jobs/{job['locator']}")["processingErrors"] or ""):
                assert time.monotonic() < deadline, "the render never found the bucket away"
                time.sleep(0.2)
            docs.settle()  # postponed: nothing runs, nothing is due
            waiting = docs.get(f"quote/Q-2/jobs/{job['locator']}")
            assert waiting["status"] != "failed", waiting
            assert waiting["documents"][0]["documentInstanceState"] != "ready"
            # It comes back; the job's next try stores the file.
            with s3_server(port):
                clock_of(runtime).set(runtime.clock.now() + timedelta(minutes=1))
                docs.settle()
                done = docs.get(f"quote/Q-2/jobs/{job['locator']}")
                assert done["status"] == "finished", done
                [document] = done["documents"]
                assert document["documentInstanceState"] == "ready"
                again = client.get(docs.url(f"{first['locator']}/document"),
                                   headers=docs.headers)
                assert again.content == kept
                fresh = client.get(docs.url(f"{document['locator']}/document"),
                                   headers=docs.headers)
                assert fresh.status_code == 200
                assert fresh.content.startswith(b"%PDF")
    finally:
        runtime.close()


# Storages that cannot be used stop `serve`, `worker` and `demo` at start: one line, code 2.


def run_commands(env: dict[str, str], *commands: list[str]) -> list[
        subprocess.CompletedProcess[str]]:
    """`policyjobs <command>` for each command, all at once, each stopped if still running
    after 60 s (it should have failed at start)."""
    processes = [subprocess.Popen([sys.executable, "-m", "policyjobs", *command], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=REPO_ROOT) for command in commands]
    results = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                                   stderr))
    return results


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[S3Server]:
    """An S3 server that checks credentials (moto's, with authentication on), in a
    process of its own."""
    with s3_process(tmp_path / "moto.log",
                    {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


@pytest.mark.parametrize("case", ["malformed", "no bucket", "refused", "http"])
def test_a_storage_that_cannot_be_used_stops_serve_worker_and_demo_at_start(
        case: str, s3: S3Server, refusing: S3Server, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLICYJOBS_", "AWS_"))}
    env |= {"POLICYJOBS_HOME": str(tmp_path / "home"), **s3.env}
    says = {"malformed": "POLICYJOBS_DOCUMENTS_URL: 'Bucket' is not a bucket name",
            "no bucket": "the bucket does not exist",
            "refused": "the credentials were refused (InvalidAccessKeyId)",
            "http": "AWS_ALLOW_HTTP is not true"}[case]
    env["POLICYJOBS_DOCUMENTS_URL"] = {"malformed": "s3://Bucket/x"}.get(
        case, "s3://no-such-bucket-here/documents")
    if case == "refused":
        env |= refusing.env
    if case == "http":
        del env["AWS_ALLOW_HTTP"]
    for result in run_commands(env, ["serve", "--port", "0"], ["worker"],
                               ["demo", "--port", "0", "--exit"]):
        command = result.args[3:]
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.startswith("error: "), (command, result.stderr)
        assert result.stderr.count("\n") == 1, (command, result.stderr)
        assert says in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_documents_copy_moves_a_local_store_into_a_bucket_and_resumes(
        s3: S3Server, tmp_path: Path) -> None:
    folder = tmp_path / "home" / "documents"
    files = {f"tenant-{t}/D{i}.{ext}": os.urandom(100 + i) for t in range(2)
             for i, ext in enumerate(("pdf", "html", "txt"))}
    for key, content in files.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(content)
    (folder / ".incoming").mkdir()
    (folder / ".incoming" / "tmp123").write_bytes(b"half a file")
    bucket = s3.create_bucket()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYJOBS_", "AWS_"))}
    env |= {"POLICYJOBS_HOME": str(tmp_path / "home"), **s3.env}
    # One file is there already, as after an interrupted copy.
    first = "tenant-0/D0.pdf"
    s3.put_object(bucket, f"moved/{first}", files[first], "application/pdf")
    [result] = run_commands(env, ["documents", "copy", "--to", f"s3://{bucket}/moved"])
    assert result.returncode == 0, result.stderr
    assert "5 files copied" in result.stderr
    assert "1 already in" in result.stderr
    assert sorted(s3.keys(bucket)) == sorted(f"moved/{key}" for key in files)
    for key, content in files.items():
        stored, headers = s3.object(bucket, f"moved/{key}")
        assert stored == content
        assert headers["Content-Type"].split(";")[0] == {
            "pdf": "application/pdf", "html": "text/html",
            "txt": "text/plain"}[key.rsplit(".", 1)[-1]]
    (folder / "tenant-1" / "D1.html").write_bytes(b"re-rendered since")
    [again] = run_commands(env, ["documents", "copy", "--to", f"s3://{bucket}/moved"])
    assert again.returncode == 0, again.stderr
    assert "1 files copied" in again.stderr
    assert "5 already in" in again.stderr
    assert s3.object(bucket, "moved/tenant-1/D1.html")[0] == b"re-rendered since"
    [missing] = run_commands(env, ["documents", "copy", "--to", "s3://no-such-bucket-here/x"])
    assert missing.returncode == 2
    assert "the bucket does not exist" in missing.stderr


@pytest.mark.slow
def test_two_workers_and_an_api_with_no_disk_in_common_render_and_serve_every_document(
        postgres_url: str, s3: S3Server, tmp_path: Path) -> None:
    """Three machines as far as files go: two `policyjobs worker` and one `serve
    --no-worker`, each with its own empty home, one PostgreSQL store and one bucket."""
    bucket = s3.create_bucket()
    url = f"s3://{bucket}/documents"
    setup = build_runtime(Settings(database_url=postgres_url, home=tmp_path / "setup"))
    try:
        tenant = setup.create_tenant(setup.tenant_configs.load(EXAMPLE))
        token = token_maker(setup)(tenant, "documents.read", "events.write")
    finally:
        setup.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYJOBS_", "AWS_"))}
    env |= {**s3.env, "POLICYJOBS_DATABASE_URL": postgres_url, "POLICYJOBS_DOCUMENTS_URL": url,
            "POLICYJOBS_SECRET_KEY": "one key for every machine", "POLICYJOBS_POLL": "200ms",
            "PYTHONUNBUFFERED": "1"}
    homes = [tmp_path / name for name in ("worker-0", "worker-1", "api")]
    port = free_port()
    machines = [Spawned([sys.executable, "-m", "policyjobs", "worker"],
                        env | {"POLICYJOBS_HOME": str(home)}, home.with_suffix(".log"),
                        cwd=REPO_ROOT) for home in homes[:2]]
    machines.append(Spawned([sys.executable, "-m", "policyjobs", "serve", "--no-worker",
                             "--port", str(port)], env | {"POLICYJOBS_HOME": str(homes[2])},
                            homes[2].with_suffix(".log"), cwd=REPO_ROOT))
    api = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for machine in machines[:2]:
            machine.wait_for(STARTED)
        wait_until_up(api)
        events = [quote(f"Q-{i}") for i in range(6)] + [transaction("T-1", segments=2)]
        sent = httpx.post(f"{api}/platform/{tenant}/events", headers=headers,
                          json={"events": events}, timeout=30)
        assert sent.status_code == 202, sent.text
        references = [f"quote/Q-{i}" for i in range(6)] + [
            "transaction/T-1", "segment/S-0", "segment/S-1"]
        documents = ready_documents(api, tenant, headers, references)
        assert len(documents) == 9  # a quote summary each, the declarations, two schedules
        keys = s3.keys(bucket)
        for document in documents:
            served = httpx.get(f"{api}/document/{tenant}/documents/{document}/document",
                               headers=headers, timeout=30)
            assert served.status_code == 200, served.text
            [key] = [k for k in keys if k.rsplit("/", 1)[-1].split(".")[0] == document]
            assert key.startswith(f"documents/{tenant}/{document}.")
            assert served.content == s3.object(bucket, key)[0]
            assert served.content.startswith(b"%PDF" if key.endswith(".pdf") else b"<")
        for machine in machines:
            machine.check()
        renders = [machine.output().count('"event": "document stored"') for machine in machines]
        assert renders[2] == 0  # the API rendered nothing
        assert sum(renders[:2]) == len(documents)
    finally:
        for machine in machines:
            machine.kill()
    for home in homes:  # no machine kept a document's file on its own disk
        assert not (home / "documents").exists(), home


def wait_until_up(api: str) -> None:
    """Wait until the API answers its health check with the store up."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).json().get("database") == "ok":
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.2)


def ready_documents(api: str, tenant: str, headers: dict[str, str],
                    references: list[str]) -> list[str]:
    """The locators of every document of the references' documents jobs, once all are
    ready (and every job has finished)."""
    deadline = time.monotonic() + 120
    while True:
        found, done = [], True
        for reference in references:
            jobs = httpx.get(f"{api}/document/{tenant}/documents/{reference}/jobs/list",
                             headers=headers, timeout=10).json()["items"]
            done &= bool(jobs)
            for job in jobs:
                full = httpx.get(f"{api}/document/{tenant}/documents/{reference}/jobs/"
                                 f"{job['locator']}", headers=headers, timeout=10).json()
                done &= full["status"] == "finished"
                found += [d["locator"] for d in full["documents"]
                          if d["documentInstanceState"] == "ready"]
        if done:
            return found
        assert time.monotonic() < deadline, "the documents were not all rendered"
        time.sleep(0.5)
