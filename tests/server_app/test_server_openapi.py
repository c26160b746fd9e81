"""Schemathesis against /openapi.json: generated requests (valid and invalid) never get a
5xx, and every response matches the documented status, content type and schema."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_helpers import server_in_thread

from acytoo.server import openapi_document

schema = schemathesis.openapi.from_dict(
    json.loads(openapi_document()),
    config=schemathesis.Config.from_dict(
        # Bounded and derandomized, so CI runs the same examples every time.
        {"generation": {"max-examples": 40, "deterministic": True, "mode": "all"}}
    ),
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    # The real default: the offline assistant behind both protocols.
    with server_in_thread() as url:
        yield url


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=40)
def test_every_operation_keeps_its_contract(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


def test_the_document_names_every_route() -> None:
    document = json.loads(openapi_document())
    routes = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == {
        ("/api/completions", "post"),
        ("/api/render", "post"),
        ("/v1/chat/completions", "post"),
        ("/v1/embeddings", "post"),
        ("/v1/models", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    }
