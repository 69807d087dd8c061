"""Our classifier behind the SageMaker inference-container contract, as a plain WSGI app.

- `GET /ping`: 200 once the model is loaded, 503 while it loads, 500 if loading failed. The model
  loads in a background thread, so /ping answers from the first second; SageMaker keeps polling
  it until the container is healthy.
- `POST /invocations`: `application/json` `{"inputs": ["text", ...]}` or `{"inputs": "text"}`, or
  `text/csv` with one text per row (commas need no quotes). Answers `{"model": ..., "labels": [name,
  ...], "predictions": [{"label", "label_name", "confidence", "probabilities"}, ...]}` in input order,
  `labels` naming the classes in the order of each `probabilities` list (or CSV rows
  `label,label_name,confidence,error` when the request accepts `text/csv`). One bad text gets
  `{"error": ...}` in its slot, not a 500.
- `GET /execution-parameters`: what batch transform may send us.

With `SERVE_TASK=text-generation` the same server runs a causal LM (`classifier.generator`) on the
Hugging Face text-generation container contract instead (`TextGenerationApp` in `classifier.serve_generation`):
`{"inputs": "prompt", "parameters": {"max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "return_full_text",
"seed"}}` → `[{"generated_text": ...}]`, with 422 and a message for a parameter out of range or a
prompt or continuation over the server's limits (SERVE_MAX_NEW_TOKENS, SERVE_MAX_INPUT_TOKENS).

The model is the same batched engine the worker uses (`classifier.engine.load_engine`). Requests
are served by threads but share one engine; a lock serialises calls into it, because a tokenizer
is not safe to use from two threads at once and the engine already batches within a request.

No Django here: the container has the classifier package only. `python -m classifier.serve
--model DIR --port N` runs it anywhere; in the container gunicorn runs `app_from_env()`
(see deploy/sagemaker/).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from classifier.postprocess import label_name

logger = logging.getLogger(__name__)

# SageMaker real-time endpoints accept at most 6 MB per request; a larger body cannot come from
# SageMaker, so it is refused before it is read.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_MODEL_DIR = "/opt/ml/model"
CLASSIFICATION = "classification"
TEXT_GENERATION = "text-generation"
# The CSV body has a single column, so rows are split on a control character that text never holds.
_NO_DELIMITER = "\x1f"

StartResponse = Callable[..., Any]
Loader = Callable[[str], Any]


def _default_loader(model: str) -> Any:
    from classifier.engine import load_engine

    return load_engine(model)


class ModelSlot:
    """The engine, loaded once per process in a background thread, and the lock that guards it."""

    def __init__(self, model: str, loader: Loader = _default_loader) -> None:
        self.model = model
        self.state = "loading"
        self.error: str | None = None
        self.engine: Any = None
        self.predict_lock = threading.Lock()
        self._loader = loader
        self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)

    def start(self) -> ModelSlot:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.state == "ready"

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            engine = self._loader(self.model)
        except Exception as exc:  # any failure must show on /ping, or SageMaker waits forever
            logger.exception("loading model %s failed", self.model)
            self.error = f"{exc.__class__.__name__}: {exc}"
            self.state = "failed"
            return
        self.engine = engine
        self.state = "ready"
        logger.info("model %s ready in %.1f s", self.model, time.perf_counter() - started)


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ServeApp:
    """The WSGI application. One instance per process; it owns the model slot."""

    def __init__(self, slot: ModelSlot, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.slot = slot
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        try:
            if path == "/ping":
                self._allow(method, {"GET", "HEAD"})
                return self._ping(start_response)
            if path == "/invocations":
                self._allow(method, {"POST"})
                return self._invocations(environ, start_response)
            if path == "/execution-parameters":
                self._allow(method, {"GET"})
                return json_response(start_response, 200, self._execution_parameters())
            raise RequestError(404, f"No route {path!r}: use GET /ping or POST /invocations.")
        except RequestError as error:
            return json_response(start_response, error.status, {"error": str(error)})
        except Exception as exc:
            logger.exception("request %s %s failed", method, path)
            return json_response(start_response, 500, {"error": f"Internal error: {exc.__class__.__name__}: {exc}"})

    @staticmethod
    def _allow(method: str, allowed: set[str]) -> None:
        if method not in allowed:
            raise RequestError(405, f"Method {method} is not allowed here; use {' or '.join(sorted(allowed))}.")

    def _ping(self, start_response: StartResponse) -> Iterable[bytes]:
        slot = self.slot
        if slot.state == "ready":
            engine = slot.engine
            return json_response(
                start_response,
                200,
                {"status": "ready", "model": engine.model_name, "device": engine.device, "dtype": engine.dtype},
            )
        if slot.state == "failed":
            return json_response(start_response, 500, {"status": "failed", "error": slot.error})
        return json_response(start_response, 503, {"status": "loading", "model": slot.model})

    def _execution_parameters(self) -> dict[str, Any]:
        return {
            "MaxConcurrentTransforms": 1,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": max(1, self.max_body_bytes // (1024 * 1024)),
        }

    def _invocations(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        content_type = media_type(environ.get("CONTENT_TYPE", ""))
        if content_type not in {"application/json", "text/csv"}:
            raise RequestError(
                415, f"Content type {content_type or '(none)'!r} is not supported; send application/json or text/csv."
            )
        accept = accepted_type(environ.get("HTTP_ACCEPT", ""))
        body = self._read_body(environ)
        texts = _texts_from_csv(body) if content_type == "text/csv" else _texts_from_json(body)
        if self.slot.state != "ready":
            message = (
                "the model is still loading"
                if self.slot.state == "loading"
                else f"the model failed to load: {self.slot.error}"
            )
            raise RequestError(503, f"Not ready: {message}.")
        engine = self.slot.engine
        with self.slot.predict_lock:
            outcomes = engine.predict_safe(texts)
        if len(outcomes) != len(texts):
            raise RuntimeError(f"engine returned {len(outcomes)} answers for {len(texts)} texts")
        predictions = [_prediction_json(outcome) for outcome in outcomes]
        if accept == "text/csv":
            return _respond(start_response, 200, "text/csv; charset=utf-8", _predictions_csv(predictions))
        answer = {"model": engine.model_name, "labels": _labels(engine), "predictions": predictions}
        return json_response(start_response, 200, answer)

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        stream = environ["wsgi.input"]
        length_header = environ.get("CONTENT_LENGTH") or ""
        too_large = f"The body is larger than the limit of {self.max_body_bytes:,} bytes; send fewer texts per request."
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                raise RequestError(400, f"Bad Content-Length {length_header!r}.") from None
            if length > self.max_body_bytes:
                raise RequestError(413, too_large)
            return stream.read(length)
        if not environ.get("wsgi.input_terminated"):
            # Without a length, only a server that decodes chunked bodies (gunicorn) marks the input
            # as terminated; reading wsgiref's raw socket would wait for a close that never comes.
            raise RequestError(411, "Send a Content-Length header.")
        # Chunked: read one byte past the limit to know whether it was exceeded.
        body = stream.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise RequestError(413, too_large)
        return body


def media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def accepted_type(header: str) -> str:
    """application/json unless the client asks for text/csv; 406 when it accepts neither."""
    kinds = [media_type(part) for part in header.split(",") if part.strip()]
    if not kinds or any(kind in {"application/json", "*/*", "application/*"} for kind in kinds):
        return "application/json"
    if any(kind in {"text/csv", "text/*"} for kind in kinds):
        return "text/csv"
    raise RequestError(406, f"Cannot answer as {header!r}; accept application/json or text/csv.")


def _texts_from_json(body: bytes) -> list[str]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "The body is not valid JSON.") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise RequestError(400, 'The body must be a JSON object with "inputs": a string or a list of strings.')
    unknown = sorted(set(payload) - {"inputs"})
    if unknown:
        raise RequestError(400, f"Unknown field(s): {', '.join(unknown)}.")
    inputs = payload["inputs"]
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list):
        raise RequestError(400, '"inputs" must be a string or a list of strings.')
    return _checked(texts)


def _texts_from_csv(body: bytes) -> list[str]:
    """One text per row. A row is never split on commas (there is one column): a text with commas
    needs no quotes, and CSV quoting still works for a text that spans lines or starts with a quote."""
    try:
        decoded = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError(400, "The CSV body is not UTF-8.") from None
    reader = csv.reader(io.StringIO(decoded, newline=""), delimiter=_NO_DELIMITER, strict=True)
    try:
        return _checked([row[0] for row in reader if row and row[0].strip()])
    except csv.Error as error:
        raise RequestError(400, f"The CSV body cannot be parsed at line {reader.line_num}: {error}.") from None


def _checked(texts: list[Any]) -> list[str]:
    if not texts:
        raise RequestError(400, "No inputs: send at least one text.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(400, f"inputs[{index}] is not a string.")
        if not text.strip():
            raise RequestError(400, f"inputs[{index}] is empty.")
    return texts


def _labels(engine: Any) -> list[str]:
    """The class names in label-id order, as transformers names a class its config leaves unnamed."""
    id2label = engine.id2label
    return [label_name(id2label, i) for i in range(max(id2label, default=-1) + 1)]


def _prediction_json(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, Exception):
        return {"error": f"{outcome.__class__.__name__}: {outcome}"}
    return {
        "label": outcome.label,
        "label_name": outcome.label_name,
        "confidence": outcome.confidence,
        "probabilities": outcome.probabilities,
    }


def _predictions_csv(predictions: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for prediction in predictions:
        writer.writerow(
            [
                prediction.get("label", ""),
                prediction.get("label_name", ""),
                prediction.get("confidence", ""),
                prediction.get("error", ""),
            ]
        )
    return out.getvalue().encode()


def json_response(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    return _respond(start_response, status, "application/json", json.dumps(payload).encode())


def _respond(start_response: StartResponse, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, '')}".strip(),
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def create_app(model: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, loader: Loader = _default_loader):
    """The app, with its model already loading in the background."""
    return ServeApp(ModelSlot(model, loader).start(), max_body_bytes=max_body_bytes)


def app_from_env() -> ServeApp:
    """gunicorn's entry (`classifier.serve:app_from_env()`), called once in each worker after the fork.

    SERVE_TASK picks the contract: `classification` (our classifier, the default) or `text-generation`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    model = os.environ.get("SERVE_MODEL_DIR", DEFAULT_MODEL_DIR)
    max_body_bytes = _env_int("SERVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    task = os.environ.get("SERVE_TASK", CLASSIFICATION)
    if task == CLASSIFICATION:
        return create_app(model, max_body_bytes=max_body_bytes)
    if task == TEXT_GENERATION:
        # Imported here: classifier.serve_generation builds on this module's server.
        from classifier.serve_generation import GenerationLimits, create_generation_app

        return create_generation_app(
            model,
            max_body_bytes=max_body_bytes,
            limits=GenerationLimits(
                max_new_tokens=_env_int("SERVE_MAX_NEW_TOKENS", GenerationLimits.max_new_tokens),
                max_input_tokens=_env_int("SERVE_MAX_INPUT_TOKENS", GenerationLimits.max_input_tokens),
            ),
        )
    raise SystemExit(f"SERVE_TASK must be {CLASSIFICATION!r} or {TEXT_GENERATION!r}, got {task!r}")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server with a thread per request, so /ping answers while a batch is predicted."""

    daemon_threads = True
    allow_reuse_address = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def make_server_for(app: ServeApp, host: str, port: int) -> ThreadingWSGIServer:
    return make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=_Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the classifier with SageMaker's /ping and /invocations.")
    parser.add_argument("--model", default=os.environ.get("SERVE_MODEL_DIR", DEFAULT_MODEL_DIR), help="model directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=_env_int("SERVE_PORT", 8080))
    parser.add_argument("--max-body-bytes", type=int, default=_env_int("SERVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(args.model, max_body_bytes=args.max_body_bytes)
    server = make_server_for(app, args.host, args.port)
    logger.info(
        "serving %s on http://%s:%d (model loading in the background)", args.model, args.host, server.server_port
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
