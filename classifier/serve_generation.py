"""The Hugging Face text-generation container contract, served like the classifier (classifier/serve.py):
`GET /ping`, and `POST /invocations` with `{"inputs": "prompt", "parameters": {...}}` answered with
`[{"generated_text": ...}]`, within per-request limits. `SERVE_TASK=text-generation` picks it.

No Django here, as in classifier/serve.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from classifier.serve import (
    DEFAULT_MAX_BODY_BYTES,
    Loader,
    ModelSlot,
    RequestError,
    ServeApp,
    StartResponse,
    accepted_type,
    json_response,
    media_type,
)


def _generator_loader(model: str) -> Any:
    from classifier.generator import TextGenerator

    return TextGenerator(model)


@dataclass(frozen=True)
class GenerationLimits:
    """What one text-generation request may ask for. The defaults fit the demo model's 512 positions."""

    max_new_tokens: int = 256
    max_input_tokens: int = 256
    max_temperature: float = 100.0
    max_top_k: int = 1000


# The parameters TextGenerationApp honours, of those the Hugging Face containers take.
GENERATION_PARAMETERS = ("max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "return_full_text", "seed")


class TextGenerationApp(ServeApp):
    """The Hugging Face text-generation contract on the same server: `/ping` as for the classifier,
    `POST /invocations` with `{"inputs": "prompt", "parameters": {...}}` → `[{"generated_text": ...}]`."""

    def __init__(
        self, slot: ModelSlot, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, limits: GenerationLimits | None = None
    ) -> None:
        super().__init__(slot, max_body_bytes=max_body_bytes)
        self.limits = limits or GenerationLimits()

    def _execution_parameters(self) -> dict[str, Any]:
        return {**super()._execution_parameters(), "MaxNewTokens": self.limits.max_new_tokens}

    def _invocations(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from classifier.generator import GenerationRequest

        content_type = media_type(environ.get("CONTENT_TYPE", ""))
        if content_type != "application/json":
            raise RequestError(
                415, f"Content type {content_type or '(none)'!r} is not supported; send application/json."
            )
        if accepted_type(environ.get("HTTP_ACCEPT", "")) != "application/json":
            raise RequestError(406, "Text generation answers in application/json only.")
        prompt, parameters = _generation_json(self._read_body(environ))
        fields = generation_parameters_check(parameters, self.limits)
        if self.slot.state != "ready":
            raise RequestError(
                503,
                "Not ready: the model is still loading."
                if self.slot.state == "loading"
                else f"Not ready: the model failed to load: {self.slot.error}.",
            )
        generator = self.slot.engine
        used = generator.token_count(prompt)
        if used > self.limits.max_input_tokens:
            raise RequestError(
                422, f"The input is {used:,} tokens long; this endpoint takes at most {self.limits.max_input_tokens:,}."
            )
        room = generator.max_positions - used
        if fields.get("max_new_tokens", 50) > room:
            raise RequestError(
                422,
                f"max_new_tokens must be at most {room:,} for this input "
                f"(the model has {generator.max_positions:,} positions).",
            )
        with self.slot.predict_lock:
            text = generator.generate(GenerationRequest(prompt=prompt, **fields))
        return json_response(start_response, 200, [{"generated_text": text}])


def _generation_json(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "The body is not valid JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), str):
        raise RequestError(400, 'The body must be a JSON object with "inputs": the prompt, a string.')
    unknown = sorted(set(payload) - {"inputs", "parameters"})
    if unknown:
        raise RequestError(400, f"Unknown field(s): {', '.join(unknown)}.")
    if not payload["inputs"].strip():
        raise RequestError(422, '"inputs" is empty: send the beginning of a text to continue.')
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, '"parameters" must be a JSON object.')
    return payload["inputs"], parameters


def generation_parameters_check(parameters: dict[str, Any], limits: GenerationLimits) -> dict[str, Any]:
    """The request's parameters as GenerationRequest fields; RequestError 422 naming the first bad one."""
    unknown = sorted(set(parameters) - set(GENERATION_PARAMETERS))
    if unknown:
        raise RequestError(
            422, f"Unknown parameter(s): {', '.join(unknown)}; this endpoint takes {', '.join(GENERATION_PARAMETERS)}."
        )
    fields: dict[str, Any] = {}
    for name in ("do_sample", "return_full_text"):
        if name in parameters:
            if not isinstance(parameters[name], bool):
                raise RequestError(422, f"{name} must be true or false.")
            fields[name] = parameters[name]
    whole = {"max_new_tokens": (1, limits.max_new_tokens), "top_k": (0, limits.max_top_k), "seed": (0, 2**32 - 1)}
    for name, (low, high) in whole.items():
        value = parameters.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RequestError(422, f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}.")
        fields[name] = value
    real = {"temperature": limits.max_temperature, "top_p": 1.0}
    for name, ceiling in real.items():
        value = parameters.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= ceiling:
            raise RequestError(422, f"{name} must be a number above 0 and at most {ceiling:g}, got {value!r}.")
        fields[name] = float(value)
    # As the Hugging Face containers do: a temperature or top_p asks for sampling unless told otherwise.
    if "do_sample" not in fields and ("temperature" in fields or "top_p" in fields):
        fields["do_sample"] = True
    return fields


def create_generation_app(
    model: str,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    limits: GenerationLimits | None = None,
    loader: Loader = _generator_loader,
) -> TextGenerationApp:
    """The text-generation app, with its model already loading in the background."""
    return TextGenerationApp(ModelSlot(model, loader).start(), max_body_bytes=max_body_bytes, limits=limits)
