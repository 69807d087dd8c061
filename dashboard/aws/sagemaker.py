"""SageMaker's control plane, read side: endpoint status for the status panel.

Invoking endpoints lives in `sagemaker_runtime.py`; this module only describes and lists them.
Endpoints come back as plain dicts; errors as `EndpointStatusUnavailable`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.aws.clients import cached_client
from dashboard.exceptions import EndpointStatusUnavailable


def client():
    """The process's SageMaker control-plane client for endpoint status (see dashboard/aws/clients.py)."""
    return cached_client(
        "sagemaker",
        endpoint_url=settings.SAGEMAKER_ENDPOINT_URL,
        connect_timeout=3,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
    )


def _call(operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise _translated(operation, error) from error


def _translated(operation: str, error: ClientError | BotoCoreError) -> EndpointStatusUnavailable:
    if isinstance(error, BotoCoreError):
        return EndpointStatusUnavailable(f"SageMaker is unreachable: {error}")
    code = error.response.get("Error", {}).get("Code", "") or "Unknown"
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    return EndpointStatusUnavailable(f"SageMaker {operation}: {code}: {message}")


def endpoints_list(*, limit: int = 50) -> list[str]:
    """Names of the region's endpoints, newest first."""
    names: list[str] = []
    try:
        pages = (
            client()
            .get_paginator("list_endpoints")
            .paginate(
                SortBy="CreationTime",
                SortOrder="Descending",
                PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 100)},
            )
        )
        for response in pages:
            names.extend(endpoint["EndpointName"] for endpoint in response.get("Endpoints", []))
    except (ClientError, BotoCoreError) as error:
        raise _translated("list_endpoints", error) from error
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
