"""SageMaker Runtime (`invoke_endpoint`): the only module that calls a SageMaker endpoint.

Callers send bytes and get bytes back; every failure arrives as one of our `EndpointError`
subclasses with a message a user can act on, never as a botocore exception. `invoke` tries once
(botocore's own SAGEMAKER_INVOKE_MAX_ATTEMPTS aside): a web request must answer quickly.
Background jobs retry through `dashboard.endpoints.retry`, on either endpoint backend.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.conf import settings

from dashboard.aws.clients import cached_client
from dashboard.exceptions import (
    EndpointError,
    EndpointModelError,
    EndpointNotReady,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)

log = logging.getLogger(__name__)

_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_CONTAINER_BUSY = {"502", "503", "504"}
_SERVICE_DOWN = {"InternalFailure", "ServiceUnavailable", "InternalDependencyException", "InternalServerError"}


@dataclass(frozen=True)
class Invocation:
    body: bytes
    content_type: str


def client():
    """The process's sagemaker-runtime client (see dashboard/aws/clients.py)."""
    return cached_client(
        "sagemaker-runtime",
        endpoint_url=settings.SAGEMAKER_RUNTIME_ENDPOINT_URL,
        connect_timeout=settings.SAGEMAKER_CONNECT_TIMEOUT,
        read_timeout=settings.SAGEMAKER_INVOKE_TIMEOUT,
        retries={"total_max_attempts": settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=32,
    )


def invoke(*, endpoint: str, body: bytes, content_type: str = "application/json", accept: str = "application/json"):
    """Call `endpoint` with `body` and return its answer; raise an `EndpointError` subclass on failure."""
    try:
        response = client().invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept)
        answer = response["Body"].read()
    except ClientError as error:
        raise error_from_client_error(endpoint, error) from error
    except (ReadTimeoutError, ConnectTimeoutError) as error:
        raise EndpointTimeout(
            f"Endpoint {endpoint!r} did not answer within {settings.SAGEMAKER_INVOKE_TIMEOUT:g} s. "
            "Try a shorter request, or check the endpoint's CloudWatch logs."
        ) from error
    except EndpointConnectionError as error:
        raise EndpointUnavailable(f"SageMaker could not be reached: {error}") from error
    except BotoCoreError as error:
        raise EndpointUnavailable(f"Calling endpoint {endpoint!r} failed: {error}") from error
    return Invocation(body=answer, content_type=response.get("ContentType") or "")


def answer_json(body: bytes, *, endpoint: str) -> Any:
    """An endpoint's answer decoded as JSON; EndpointModelError when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise EndpointModelError(
            f"Endpoint {endpoint!r} answered with something that is not JSON: {body[:200]!r}"
        ) from None


def error_from_client_error(endpoint: str, error: ClientError) -> EndpointError:
    """Our exception for an error SageMaker Runtime answered with."""
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    message = details.get("Message", "") or str(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _THROTTLED or (status == 429 and code != "ModelNotReadyException"):
        return EndpointThrottled(f"Endpoint {endpoint!r} is throttling requests; try again in a few seconds.")
    if code == "ModelNotReadyException":
        return EndpointNotReady(f"Endpoint {endpoint!r} is not ready to serve yet: {message}")
    if code in {"ValidationError", "ValidationException"} and "endpoint" in message.lower():
        # e.g. "Endpoint gpt2-demo of account 123456789012 not found." for a missing or deleted endpoint
        return EndpointNotReady(
            f"Endpoint {endpoint!r} is not available: {message} It must exist and be InService; "
            "check its status on the dashboard."
        )
    if code == "ModelError":
        original = error.response.get("OriginalMessage") or message
        log_stream = error.response.get("LogStreamArn")
        where = f" (logs: {log_stream})" if log_stream else ""
        # The container's own status: 4xx is this input (or a bug in what we sent), 500 an exception
        # our serving code raised for it; 502-504 a container still loading (classifier/serve.py
        # answers 503 then) or overloaded, which passes.
        retryable = str(error.response.get("OriginalStatusCode")) in _CONTAINER_BUSY
        return EndpointModelError(f"The model behind {endpoint!r} failed: {original}{where}", retryable=retryable)
    if code in _SERVICE_DOWN or (status is not None and status >= 500):
        return EndpointUnavailable(f"SageMaker could not run endpoint {endpoint!r} right now: {code}: {message}")
    return EndpointError(f"Calling endpoint {endpoint!r} failed: {code}: {message}")
