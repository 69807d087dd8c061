"""Checks an API response against the generated OpenAPI document: its status and its JSON body."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator


@cache
def api_document() -> dict[str, Any]:
    from dashboard.api import document

    return document()


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    for template, operations in document["paths"].items():
        pattern = re.sub(
            r"\\\{(\w+)\\\}", lambda m: "(?:.+)" if m.group(1) == "item_id" else "[^/]+", re.escape(template)
        )
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def api_response_problem(
    document: dict[str, Any], *, method: str, path: str, status: int, content_type: str, body: bytes
) -> str | None:
    """Why this response breaks the document, or None. Methods the document does not list (405) pass."""
    operation = _operation(document, method, path)
    if operation is None:
        return None
    documented = operation["responses"].get(str(status))
    if documented is None:
        return f"{method} {path}: status {status} is not documented"
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None or not content_type.startswith("application/json"):
        return None
    validator = Draft202012Validator(schema | {"components": document["components"]})
    errors = [error.message for error in validator.iter_errors(json.loads(body))]
    return f"{method} {path} {status}: {'; '.join(errors)}" if errors else None
