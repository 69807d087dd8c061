"""Structured logs for every process (web, inference worker, power_tick): one configuration, two renderings.

Records go through the standard library, so every `logging.getLogger(__name__)` keeps working, and
are rendered by structlog's ProcessorFormatter: one JSON object per line in production (what a log
shipper parses), `key=value` console lines locally. Each line gets the context bound with
`structlog.contextvars` (the request id and user of a web request, the job, items, batch and user in
the worker: dashboard/middleware.py, classifier/worker.py) and the record's `extra=` fields.

Secrets never leave in a line: tokens, passwords, Authorization values, cookies, AWS keys and URL
passwords are masked in every field, the traceback included (`secrets_redact`), as a safety net
behind the rule that code never logs them in the first place.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

LOG_FORMATS = ("json", "console")
REDACTED = "[redacted]"

# Field names whose values are credentials whatever they hold.
_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:password|passwd|secret|token|authorization|cookie|api_?key|credentials?)(?:$|[_-])", re.I
)
_SECRET_TEXT = [
    # Our API tokens (dashboard.services.TOKEN_PREFIX) and any bearer or basic credential.
    (re.compile(r"xlc_[A-Za-z0-9_-]+"), "xlc_" + REDACTED),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 " + REDACTED),
    # AWS access key ids, and secret keys or session tokens written as `name=value` / `"name": "value"`.
    (re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), REDACTED),
    (
        re.compile(
            r"((?:aws_)?(?:secret_access_key|session_token|password|passwd|secret|api_key)(?:=|['\"]\s*:\s*)['\"]?)"
            r"[^\s'\",;&}]+",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
    # user:password@ in URLs (REDIS_URL, DATABASE_URL).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I), r"\1" + REDACTED + "@"),
]


# Cheap first look: a text none of the patterns could match (nearly every one: ids, names, counts)
# costs one search instead of five substitutions.
# (Case spelled out: an IGNORECASE alternation searched twice as slowly.)
_MAYBE_SECRET = re.compile(
    r"xlc_|[Bb]earer|BEARER|[Bb]asic|BASIC|A[KS]IA|A[RI]OA|AIDA|[Ss]ecret|SECRET|[Pp]ass|PASS|"
    r"[Tt]oken|TOKEN|[Aa]pi_key|API_KEY|://"
)


def _text_redact(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _value_redact(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return REDACTED if value and _is_secret_key(key) else _text_redact(value)
    if isinstance(value, dict):
        return {k: _value_redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value_redact(key, v) for v in value]
    return value


def secrets_redact(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask credentials in every field of a line (structlog processor; run after the traceback is formatted)."""
    return {key: _value_redact(key, value) for key, value in event_dict.items()}


def _formatter_leftovers_drop(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """`message` and `asctime` are set on a record by any handler that formatted it first, not passed by
    the caller (logging refuses them as `extra`): not fields of ours."""
    event_dict.pop("message", None)
    event_dict.pop("asctime", None)
    return event_dict


def _request_summarise(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Django's `django.request` lines pass the request object as `extra`: keep its method and path only
    (no query string, headers or body). runserver's `django.server` lines pass the socket: dropped."""
    request = event_dict.get("request")
    if request is None or isinstance(request, str):
        return event_dict
    if hasattr(request, "path"):
        event_dict["request"] = f"{getattr(request, 'method', '')} {request.path}"
    else:
        del event_dict["request"]
    return event_dict


def _shared_processors() -> list[Processor]:
    """Applied to structlog's own lines and to standard-library records alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        _formatter_leftovers_drop,
        _request_summarise,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def log_formatter(*, fmt: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: JSON lines (`json`) or readable console lines (`console`)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A plain traceback as text, redacted like every field: never a rich one with the frames'
            # local variables, which may hold a password.
            structlog.processors.format_exc_info,
            secrets_redact,
            renderer,
        ],
    )


def logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    """Django's LOGGING: one handler on stderr through `log_formatter`; noisy libraries at WARNING."""
    log_formatter(fmt=fmt)  # a bad LOG_FORMAT fails at start-up, naming the setting
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": log_formatter, "fmt": fmt}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "botocore": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
            # Django's own console handler (DEBUG only) would print its lines a second time, unstructured.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
        },
    }


def log_level_check(level: str) -> str:
    """LOG_LEVEL as the logging module names it; an unknown one fails at start-up."""
    name = level.upper()
    if not isinstance(logging.getLevelName(name), int):
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
    return name
