from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from dashboard.services import api_token_create
from tests.dashboard.api_contract import api_document, api_response_problem

pytestmark = pytest.mark.django_db


def _api_routes() -> set[str]:
    """Every route under api/v1/, as an OpenAPI path ("/api/v1/batches/{id}")."""
    routes = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/v1/"):
                    routes.add("/" + re.sub(r"<(?:\w+:)?\w+>", "{id}", route))

    walk(get_resolver().url_patterns)
    return routes


def test_the_document_needs_a_login_or_a_token(client, user):
    assert client.get("/api/v1/openapi.json").status_code == 401
    _, raw = api_token_create(user=user, name="codegen")
    response = client.get("/api/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    schemes = document["components"]["securitySchemes"].values()
    assert {"type": "http", "scheme": "bearer"} in [{k: s[k] for k in ("type", "scheme") if k in s} for s in schemes]


def test_the_generated_document_is_valid_openapi_3_1(user_client):
    document = user_client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented(user_client):
    paths = user_client.get("/api/v1/openapi.json").json()["paths"]
    documented = {re.sub(r"\{\w+\}", "{id}", path) for path in paths}
    assert _api_routes(), "no API routes found"
    assert _api_routes() <= documented, f"undocumented: {sorted(_api_routes() - documented)}"
    assert {"/api/v1/submissions", "/api/v1/batches", "/api/v1/batches/{id}"} <= documented


def test_every_schema_reference_resolves(user_client):
    document = user_client.get("/api/v1/openapi.json").json()
    text = str(document)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in document["components"]["schemas"], name


def test_documented_limits_follow_the_settings(user_client, settings):
    settings.BATCH_MAX_ROWS = 123
    schema = user_client.get("/api/v1/openapi.json").json()["components"]["schemas"]["BatchRequest"]
    assert schema["properties"]["texts"]["maxItems"] == 123


def test_the_submission_statuses_the_tests_see_are_documented(user_client):
    paths = user_client.get("/api/v1/openapi.json").json()["paths"]
    submit = set(paths["/api/v1/submissions"]["post"]["responses"])
    batch = set(paths["/api/v1/batches"]["post"]["responses"])
    # 413: test_bad_input; 429: test_security's rate limit; 503: tests/faults/test_dynamodb_down.py
    assert {"202", "400", "401", "413", "415", "429", "503"} <= submit
    assert {"202", "400", "401", "413", "415", "429", "503"} <= batch


def test_a_response_that_breaks_its_schema_is_caught():
    document = api_document()
    good = {"id": "abc", "status": "queued"}
    check = {"method": "POST", "path": "/api/v1/submissions", "content_type": "application/json"}
    assert api_response_problem(document, status=202, body=json.dumps(good).encode(), **check) is None
    wrong = api_response_problem(document, status=202, body=json.dumps({"id": 1}).encode(), **check)
    assert wrong and "'status' is a required property" in wrong
    assert "not documented" in api_response_problem(document, status=418, body=b"{}", **check)


def test_an_undocumented_status_from_the_api_fails_the_test_that_saw_it(client, monkeypatch):
    from dashboard import auth

    def teapot(self, request, key):
        raise auth.ApiError(418, "teapot")

    monkeypatch.setattr(auth.SessionAuth, "authenticate", teapot)
    with pytest.raises(AssertionError, match="status 418 is not documented"):
        client.get("/api/v1/submissions/abc")
