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
        "config_name": config_name or "",
        "variant": variants[0].get("VariantName", "") if variants else "",
    }


def _missing(error: ClientError) -> bool:
    # SageMaker answers a missing resource with a ValidationException: "Could not find endpoint ...".
    message = error.response.get("Error", {}).get("Message", "").lower()
    return "could not find" in message or "not found" in message or "does not exist" in message


def endpoint_find(*, name: str) -> dict[str, Any] | None:
    """`endpoint_describe`, or None when there is no such endpoint (deleted, or never created)."""
    try:
        client().describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _missing(error):
            return None
        raise _translated("describe_endpoint", error) from error
    except BotoCoreError as error:
        raise _translated("describe_endpoint", error) from error
    return endpoint_describe(name=name)


def endpoint_config_find(*, name: str) -> dict[str, Any] | None:
    """An endpoint config's first variant (what an endpoint made from it runs), or None when it is gone."""
    try:
        raw = client().describe_endpoint_config(EndpointConfigName=name)
    except ClientError as error:
        if _missing(error):
            return None
        raise _translated("describe_endpoint_config", error) from error
    except BotoCoreError as error:
        raise _translated("describe_endpoint_config", error) from error
    variants = raw.get("ProductionVariants") or [{}]
    return {
        "name": raw.get("EndpointConfigName", name),
        "variant": variants[0].get("VariantName", ""),
        "instance_type": variants[0].get("InstanceType", ""),
        "instance_count": int(variants[0].get("InitialInstanceCount") or 0),
        "async": bool(raw.get("AsyncInferenceConfig")),
    }


def endpoint_configs_named(*, prefix: str) -> list[str]:
    """Endpoint configs whose name starts with `prefix`, newest first (`sagemaker_deploy` stamps them)."""
    names: list[str] = []
    try:
        pages = (
            client()
            .get_paginator("list_endpoint_configs")
            .paginate(NameContains=prefix, SortBy="CreationTime", SortOrder="Descending")
        )
        for response in pages:
            names.extend(c["EndpointConfigName"] for c in response.get("EndpointConfigs", []))
    except (ClientError, BotoCoreError) as error:
        raise _translated("list_endpoint_configs", error) from error
    return [n for n in names if n.startswith(prefix)]
