"""Text generation on an endpoint (SageMaker, or a local one: `dashboard.endpoints`): validate, invoke,
record. Used by the page and the API.

The endpoint runs a Hugging Face inference container (the `gpt2-demo` of the original system, or
any text-generation model): it takes `{"inputs": prompt, "parameters": {...}}` and answers
`[{"generated_text": "..."}]`. Every call that reaches the endpoint is recorded in the generations
table: `done` with the text, or `failed` with the reason (see `dashboard/aws/dynamodb/generations.py`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from dashboard import endpoints
from dashboard.aws import dynamodb, sagemaker_runtime
from dashboard.endpoints.demand import endpoint_ready
from dashboard.exceptions import EndpointError, EndpointModelError, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 50
DEFAULT_TEMPERATURE = 0.7
MAX_TEMPERATURE = 2.0
# As for submissions: tab and newlines are ordinary in a prompt, other control characters are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class GenerationParams:
    prompt: str
    max_new_tokens: int
    temperature: float


def generation_params_clean(*, prompt: object, max_new_tokens: object = None, temperature: object = None):
    """The parameters of one generation, or ValidationError with a message per field."""
    errors: dict[str, str] = {}
    clean_prompt = ""
    try:
        clean_prompt = _prompt_clean(prompt)
    except ValidationError as error:
        errors["prompt"] = error.messages[0]
    limit = settings.GENERATE_MAX_NEW_TOKENS
    tokens = _whole_number(DEFAULT_MAX_NEW_TOKENS if max_new_tokens in (None, "") else max_new_tokens)
    if tokens is None:
        errors["max_new_tokens"] = "Max new tokens must be a whole number."
    elif not 1 <= tokens <= limit:
        errors["max_new_tokens"] = f"Max new tokens must be between 1 and {limit:,}."
    heat = _real_number(DEFAULT_TEMPERATURE if temperature in (None, "") else temperature)
    if heat is None:
        errors["temperature"] = "Temperature must be a number."
    elif not 0.0 <= heat <= MAX_TEMPERATURE:
        errors["temperature"] = f"Temperature must be between 0 and {MAX_TEMPERATURE:g} (0 means greedy decoding)."
    if errors:
        raise ValidationError(errors)
    assert tokens is not None and heat is not None  # each None was reported above
    return GenerationParams(prompt=clean_prompt, max_new_tokens=tokens, temperature=heat)


# What a form or a JSON string may hold for a number: plain ASCII digits, nothing `int()` or `float()`
# would also take ("²", "٣", "1_000", " nan", "1e400"). Bounded in length, so no huge conversion.
_DIGITS = re.compile(r"[0-9]{1,18}")
_DECIMAL = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?|\.[0-9]{1,18}")


def _whole_number(value: object) -> int | None:
    """A JSON integer (50 or 50.0) or a string of ASCII digits as an int; None for anything else (bools too)."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if _DIGITS.fullmatch(value) else None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _real_number(value: object) -> float | None:
    """A finite JSON number or an ASCII decimal string as a float; None for NaN, infinities, bools and text."""
    if isinstance(value, str):
        value = value.strip()
        return float(value) if _DECIMAL.fullmatch(value) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):  # clamped: float() of a huge JSON integer overflows; it is only out of range
        return float(max(-1e300, min(value, 1e300)))
    return value if math.isfinite(value) else None


def _prompt_clean(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("Prompt must be a string.")
    prompt = unicodedata.normalize("NFC", value)
    if not prompt.strip():
        raise ValidationError("Prompt is empty. Type the beginning of a text to continue.")
    limit = settings.GENERATE_MAX_PROMPT_CHARS
    if len(prompt) > limit:
        raise ValidationError(f"Prompt is {len(prompt):,} characters long; the limit is {limit:,}.")
    match = _CONTROL.search(prompt)
    if match:
        raise ValidationError(
            f"Prompt contains a control character (U+{ord(match.group()):04X}) at position {match.start() + 1}."
        )
    return prompt


def generation_payload(params: GenerationParams) -> dict[str, Any]:
    """The request body of the Hugging Face text-generation containers (inference toolkit and TGI)."""
    parameters: dict[str, Any] = {
        "max_new_tokens": params.max_new_tokens,
        "do_sample": params.temperature > 0,
        # The continuation only: the page shows the prompt next to it already.
        "return_full_text": False,
    }
    # TGI rejects temperature 0, and greedy decoding ignores temperature anyway.
    if params.temperature > 0:
        parameters["temperature"] = params.temperature
    return {"inputs": params.prompt, "parameters": parameters}


def generated_text_parse(body: bytes, *, endpoint: str, prompt: str) -> str:
    """The generated text from the container's answer; EndpointModelError when it has none."""
    answer = sagemaker_runtime.answer_json(body, endpoint=endpoint)
    first = answer[0] if isinstance(answer, list) and answer else answer
    text = first.get("generated_text") if isinstance(first, dict) else None
    if not isinstance(text, str):
        raise EndpointModelError(
            f"Endpoint {endpoint!r} answered without a generated_text: {json.dumps(answer)[:200]}. "
            "Is it a text-generation model?"
        )
    # Containers that ignore return_full_text echo the prompt first.
    return text[len(prompt) :] if text.startswith(prompt) else text


def generation_endpoint_ready(*, endpoint: str | None = None) -> None:
    """Start the endpoint if it is at zero, raising EndpointStarting or EndpointPaused: the pages call this
    before charging the user's token budget, so a request that could not be sent costs nothing."""
    endpoint_ready(name=endpoint or settings.SAGEMAKER_GENERATE_ENDPOINT)


def generation_create(*, params: GenerationParams, requested_by: str, endpoint: str | None = None) -> dict[str, Any]:
    """Generate text on the endpoint and record the call. Returns the stored item (status `done`).

    On an endpoint failure, a `failed` item with the reason is recorded and the EndpointError is
    raised for the caller to show, with that item as its `generation` attribute. If the table
    cannot be written after a success, the text is still returned, with `stored` False, rather
    than thrown away.
    """
    endpoint = endpoint or settings.SAGEMAKER_GENERATE_ENDPOINT
    item: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "prompt": params.prompt,
        "max_new_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "endpoint": endpoint,
        "requested_by": requested_by,
        "created_at": dynamodb.now_iso(),
    }
    # A scaled-to-zero endpoint starts now and this raises EndpointStarting (a 503 with Retry-After);
    # nothing reached the endpoint, so nothing is recorded.
    endpoint_ready(name=endpoint)
    started = time.perf_counter()
    try:
        answer = endpoints.backend().invoke(
            endpoint,
            body=json.dumps(generation_payload(params)).encode(),
            content_type="application/json",
            accept="application/json",
        )
        text = generated_text_parse(answer.body, endpoint=endpoint, prompt=params.prompt)
    except EndpointError as error:
        item |= {"status": "failed", "error": str(error), "generated_text": None}
        item["stored"] = _record(item, started)
        error.generation = item  # type: ignore[attr-defined]  # so a page can link to the record
        raise
    item |= {"status": "done", "error": None, "generated_text": text}
    item["stored"] = _record(item, started)
    return item


def _record(item: dict[str, Any], started: float) -> bool:
    item["duration_ms"] = round((time.perf_counter() - started) * 1000)
    item["finished_at"] = dynamodb.now_iso()
    try:
        dynamodb.generation_put(item=item)
    except StoreUnavailable as error:
        log.error("generation %s (%s) was not stored: %s", item["id"], item["status"], error)
        return False
    return True


def generation_get(*, generation_id: str) -> dict[str, Any]:
    return dynamodb.generation_get(generation_id=generation_id)


def generations_recent(*, limit: int = 10) -> list[dict[str, Any]]:
    return dynamodb.generations_newest(limit=limit)


def generation_public(item: dict[str, Any]) -> dict[str, Any]:
    """What the API returns for a generation: the stored schema, plus whether it was stored."""
    public = {field: item.get(field) for field in dynamodb.GENERATION_FIELDS}
    public["stored"] = item.get("stored", True)
    return public
