"""SageMaker's control plane, read side: endpoint status for the status panel.

Invoking endpoints lives in `sagemaker_runtime.py`; this module only describes and lists them.
Endpoints come back as plain dicts; errors as `EndpointStatusUnavailable`.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.exceptions import EndpointStatusUnavailable

_local = threading.local()


def client():
    """A SageMaker client for this process and thread, made on first use (never at import: we fork)."""
    # Keyed by endpoint and region too, so a changed setting (tests, a shell) gets a fresh client.
    identity = (os.getpid(), settings.SAGEMAKER_ENDPOINT_URL, settings.AWS_REGION)
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == identity:
        return cached[1]
    kwargs: dict[str, Any] = {
        "region_name": settings.AWS_REGION,
        "config": Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}),
    }
    if settings.SAGEMAKER_ENDPOINT_URL:
        kwargs["endpoint_url"] = settings.SAGEMAKER_ENDPOINT_URL
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs["aws_access_key_id"] = "testing"
            kwargs["aws_secret_access_key"] = "testing"
    made = boto3.session.Session().client("sagemaker", **kwargs)
    _local.client = (identity, made)
    return made


def _call(operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "") or "Unknown"
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        raise EndpointStatusUnavailable(f"SageMaker {operation}: {code}: {message}") from error
    except BotoCoreError as error:
        raise EndpointStatusUnavailable(f"SageMaker is unreachable: {error}") from error


def endpoints_list(*, limit: int = 50) -> list[str]:
    """Names of the region's endpoints, newest first."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": min(limit, 100)}
    while len(names) < limit:
        response = _call("list_endpoints", **kwargs)
        names.extend(endpoint["EndpointName"] for endpoint in response.get("Endpoints", []))
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    return names[:limit]


def endpoint_describe(*, name: str) -> dict[str, Any]:
    """One endpoint's status, instance type (from its endpoint config) and failure reason."""
    raw = _call("describe_endpoint", EndpointName=name)
    instance_types: list[str] = []
    config_name = raw.get("EndpointConfigName")
    if config_name:
        try:
            config = _call("describe_endpoint_config", EndpointConfigName=config_name)
            instance_types = [
                variant.get("InstanceType") or ("serverless" if variant.get("ServerlessConfig") else "")
                for variant in config.get("ProductionVariants", [])
            ]
        except EndpointStatusUnavailable:
            instance_types = []  # a deleted config leaves the endpoint describable; show what we have
    variants = raw.get("ProductionVariants", [])
    modified = raw.get("LastModifiedTime")
    return {
        "name": raw.get("EndpointName", name),
        "status": raw.get("EndpointStatus", "Unknown"),
        "instance_type": ", ".join(t for t in instance_types if t) or "",
        "instance_count": sum(v.get("CurrentInstanceCount") or 0 for v in variants),
        "last_modified": modified if isinstance(modified, datetime) else None,
        "failure_reason": raw.get("FailureReason", "") or "",
    }
