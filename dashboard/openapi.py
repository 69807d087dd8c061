"""The API's OpenAPI 3.1 document, served at /api/v1/openapi.json.

Every route under /api/v1/ must be described here: tests/dashboard/test_openapi.py fails for a
route that is not. Add a path and its schemas when you add an endpoint.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from dashboard.aws.dynamodb import STATUSES


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


UNAUTHORIZED = _error("No session and no valid bearer token.")
UNAVAILABLE = _error("DynamoDB or Redis cannot be reached; retry after the Retry-After seconds.")
RATE_LIMITED = _error("Over this user's submission rate (SUBMISSIONS_PER_MINUTE); retry after Retry-After seconds.")


def _schemas() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What went wrong, in words a user can act on."},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "SubmissionRequest": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": settings.SUBMISSION_MAX_CHARS}},
        },
        "SubmissionAccepted": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "status": {"const": "queued"}},
        },
        "Result": {
            "type": "object",
            "description": "One result item. Every field is present; fields not yet known are null.",
            "properties": {
                "id": {"type": "string"},
                "text": {"type": "string"},
                "status": {"enum": list(STATUSES)},
                "label": {"type": ["integer", "null"]},
                "label_name": nullable_string,
                "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "model": nullable_string,
                "created_at": {"type": "string", "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "error": nullable_string,
            },
        },
        "BatchRequest": {
            "type": "object",
            "description": "Either `texts` (ids are generated) or `items` (with your own ids, which must be new).",
            "additionalProperties": False,
            "properties": {
                "texts": {"type": "array", "items": {"type": "string"}, "maxItems": settings.BATCH_MAX_ROWS},
                "items": {
                    "type": "array",
                    "maxItems": settings.BATCH_MAX_ROWS,
                    "items": {
                        "type": "object",
                        "required": ["text"],
                        "additionalProperties": False,
                        "properties": {
                            "id": {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,128}$"},
                            "text": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Batch": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "status": {"enum": ["running", "complete"]},
                "total": {"type": "integer"},
                "counts": {
                    "type": "object",
                    "properties": {status: {"type": "integer"} for status in STATUSES},
                },
                "finished": {"type": "integer", "description": "done + failed"},
                "percent": {"type": "number"},
                "source": {"enum": ["csv", "paste", "api"]},
                "filename": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "completed_at": {"type": ["string", "null"], "format": "date-time"},
                "url": {"type": "string", "description": "(POST only) where to follow the batch"},
                "results_csv": {"type": "string", "description": "(GET only) the results as CSV"},
            },
        },
        "BatchRejected": {
            "type": "object",
            "description": "Nothing was stored. Each problem names its row (1-based; in a CSV the header is row 1).",
            "properties": {
                "error": {"type": "string"},
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"row": {"type": ["integer", "null"]}, "reason": {"type": "string"}},
                    },
                },
                "more_problems": {"type": "integer", "description": "problems not listed"},
            },
        },
        "BatchConflict": {
            "type": "object",
            "description": (
                "Some ids the batch gave already belong to stored items (or to a batch that was written at the "
                "same time). Nothing of this batch was stored and the existing items are unchanged."
            ),
            "required": ["error", "ids"],
            "properties": {
                "error": {"type": "string"},
                "ids": {"type": "array", "items": {"type": "string"}, "description": "the ids that are taken"},
            },
        },
        "GenerateRequest": {
            "type": "object",
            "required": ["prompt"],
            "additionalProperties": False,
            "properties": {
                "prompt": {"type": "string", "minLength": 1, "maxLength": settings.GENERATE_MAX_PROMPT_CHARS},
                "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": settings.GENERATE_MAX_NEW_TOKENS},
                "temperature": {"type": "number", "minimum": 0},
            },
        },
        "Generation": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "prompt": {"type": "string"},
                "max_new_tokens": {"type": "integer"},
                "temperature": {"type": "number"},
                "endpoint": {"type": "string"},
                "status": {"enum": ["done", "failed"]},
                "generated_text": nullable_string,
                "error": nullable_string,
                "duration_ms": {"type": ["integer", "null"]},
                "requested_by": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "stored": {"type": "boolean"},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document for this deployment (limits come from its settings)."""
    security = [{"bearer": []}, {"session": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Classifier console API",
            "version": "1.0.0",
            "description": (
                "Submit texts to the classifier, one at a time or in batches, and read the results. "
                "Authenticate with `Authorization: Bearer <token>` (`manage.py create_api_token <user>`), "
                "or with a logged-in session plus the `X-CSRFToken` header. Errors are JSON: "
                '`{"error": "...", "fields": {...}}`.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": security,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
            "schemas": _schemas(),
        },
        "paths": {
            "/api/v1/submissions": {
                "post": {
                    "summary": "Submit one text for classification",
                    "operationId": "createSubmission",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmissionRequest"}}},
                    },
                    "responses": {
                        "202": _json("SubmissionAccepted", "Stored and queued."),
                        "400": _error("The text is empty, too long, has control characters, or the JSON is wrong."),
                        "401": UNAUTHORIZED,
                        "413": _error("The body is over DATA_UPLOAD_MAX_MEMORY_SIZE."),
                        "415": _error("The body is not application/json."),
                        "429": RATE_LIMITED,
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/api/v1/submissions/{id}": {
                "get": {
                    "summary": "One result",
                    "operationId": "getSubmission",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json("Result", "The result item."),
                        "401": UNAUTHORIZED,
                        "404": _error("No submission with that id."),
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/api/v1/batches": {
                "post": {
                    "summary": "Submit many texts at once",
                    "description": (
                        f"At most {settings.BATCH_MAX_ROWS:,} rows and {settings.BATCH_MAX_BYTES:,} bytes. Everything "
                        "is validated first; if any row is bad nothing is stored and every problem is listed. "
                        "Ids you give must be new: an id that is taken is never overwritten (409). "
                        "Items are written with batched DynamoDB writes and enqueued in chunks of "
                        f"{settings.BATCH_ENQUEUE_CHUNK}."
                    ),
                    "operationId": "createBatch",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}},
                            "text/csv": {
                                "schema": {
                                    "type": "string",
                                    "description": "UTF-8 CSV with a `text` and optional `id` column",
                                }
                            },
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            },
                        },
                    },
                    "responses": {
                        "202": _json("Batch", "Stored and queued; follow `url`."),
                        "400": _json("BatchRejected", "Rejected; nothing was stored."),
                        "401": UNAUTHORIZED,
                        "409": _json("BatchConflict", "Ids already taken; nothing was stored or overwritten."),
                        "413": _error("The body or file is over the size limit."),
                        "415": _error("Unsupported content type."),
                        "429": RATE_LIMITED,
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/api/v1/batches/{id}": {
                "get": {
                    "summary": "A batch's progress",
                    "operationId": "getBatch",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json(
                            "Batch", "Counts by status; `status` is `complete` when nothing is queued or running."
                        ),
                        "401": UNAUTHORIZED,
                        "404": _error("No batch with that id."),
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/api/v1/batches/{id}/results.csv": {
                "get": {
                    "summary": "A batch's results as CSV (streamed)",
                    "operationId": "getBatchResults",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "UTF-8 CSV with a byte-order mark, one row per item. Cells starting with "
                            "= + - @ tab or CR are prefixed with ' so spreadsheets do not run them as formulas.",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        "401": UNAUTHORIZED,
                        "404": _error("No batch with that id."),
                    },
                }
            },
            "/api/v1/generate": {
                "post": {
                    "summary": "Generate text on the SageMaker text-generation endpoint",
                    "operationId": "generate",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerateRequest"}}},
                    },
                    "responses": {
                        "200": _json("Generation", "The generation (also kept in the history)."),
                        "400": _error("Invalid prompt or parameters."),
                        "401": UNAUTHORIZED,
                        "415": _error("The body is not application/json."),
                        "429": _error(
                            "Over this user's generation limits (GENERATE_TOKENS_PER_MINUTE new tokens asked for, "
                            "GENERATE_MAX_CONCURRENT at once), or the endpoint is throttling; retry after Retry-After."
                        ),
                        "502": _error("The model failed or answered with something that is not a generation."),
                        "503": _error("The endpoint is not in service or cannot be reached."),
                        "504": _error("The endpoint did not answer in time."),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "getOpenApi",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
                        "401": UNAUTHORIZED,
                    },
                }
            },
        },
    }
