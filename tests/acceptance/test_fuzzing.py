"""schemathesis against the app's own `/openapi.json`, over real data: every operation, with
B's token and B's tenant, with locators that exist and with ones that do not, with valid and
with invalid input. No 5xx, and every answer conforms to the document: status, content type,
headers and body schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from policyjobs.runtime import Runtime
from tests.support.http import MakeToken
from tests.support.tenants import Tenants, locator_parameters, some_of_each

EXAMPLES = 8  # per operation, mode and set of path parameters: bounded for the test command
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def tenants(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Tenants:
    return Tenants(client, runtime, make_token)


# Alone it takes some 35 s a store. Before the test clock refused steps of more than ten
# years, a fuzzed `PUT /admin/clock` to a far year made the tenants' daily schedules queue
# thousands of runs a second, and the SQLite run twice took over 450 s in the whole suite.
@pytest.mark.timeout(600)
def test_every_operation_answers_as_documented(tenants: Tenants) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", tenants.client.app)
    locators = some_of_each(tenants.locators_of_b(), each=1)
    pairs = some_of_each(tenants.job_pairs_of_b(), each=1)
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document is valid OpenAPI
        operation = result.ok()
        if operation.path.startswith("/test/"):
            continue  # the test domain's routes, one of which fails on purpose
        names = locator_parameters(operation.path)
        for path_parameters in _fillings(tenants, operation, names, locators, pairs):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += _fuzz(operation, mode, path_parameters, tenants.b_headers)
    assert not failures, "\n\n".join(failures[:10])


def _fillings(tenants: Tenants, operation: Any, names: list[str], locators: list[str],
              pairs: list[tuple[str, str]]) -> list[dict[str, str] | None]:
    """Path parameters to hold: None, where schemathesis makes every one up; B's tenant with
    made-up locators; and B's tenant with up to two sets of B's locators that the operation
    finds (a GET that answers 200; for a change, the first of each kind)."""
    fixed: list[dict[str, str] | None] = [None, {"tenantLocator": tenants.b}]
    if len(names) == 1:
        candidates = [{names[0]: loc} for loc in locators]
    elif len(names) == 2:
        candidates = [dict(zip(names, pair, strict=True)) for pair in pairs]
    else:
        return fixed
    if operation.method.upper() != "GET":
        return fixed + [{"tenantLocator": tenants.b, **c} for c in candidates[:2]]
    found = []
    for candidate in candidates:
        url = operation.path.replace("{tenantLocator}", tenants.b)
        for name, value in candidate.items():
            url = url.replace(f"{{{name}}}", value)
        if tenants.client.get(url, headers=tenants.b_headers).status_code == 200:
            found.append({"tenantLocator": tenants.b, **candidate})
        if len(found) == 2:
            break
    return fixed + found


def _fuzz(operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None,
          headers: dict[str, str]) -> list[str]:
    """Run a few examples; what failed, as text."""
    failures: list[str] = []
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except FailureGroup as group:
            failures.append(f"{operation.method.upper()} {operation.path} [{mode}]: {group}")

    try:
        run()
    except Unsatisfiable:  # nothing invalid to send: an operation without parameters
        assert mode is GenerationMode.NEGATIVE, operation.path
    return failures
