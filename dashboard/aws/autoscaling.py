"""Application Auto Scaling for SageMaker variants: the instance-count bounds of an async endpoint.

An async endpoint goes to zero with a scalable target whose MinCapacity is 0 (SageMaker accepts 0 only
for async endpoints); its bounds here are what the console wants, the endpoint's variant says what runs.
Errors arrive as `DeployError` (changes) or `EndpointStatusUnavailable` (reads).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.aws.clients import cached_client
from dashboard.exceptions import DeployError, EndpointStatusUnavailable

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def client():
    """The process's application-autoscaling client (see dashboard/aws/clients.py)."""
    return cached_client(
        "application-autoscaling",
        endpoint_url=settings.APPLICATION_AUTOSCALING_ENDPOINT_URL,
        connect_timeout=5,
        read_timeout=15,
        retries={"max_attempts": 3, "mode": "standard"},
    )


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def _message(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, BotoCoreError):
        return f"Application Auto Scaling is unreachable: {error}"
    details = error.response.get("Error", {})
    return f"{details.get('Code', '') or 'Unknown'}: {details.get('Message', '') or error}"


def variant_bounds_set(*, endpoint: str, variant: str, minimum: int, maximum: int) -> None:
    """Register (or update) the variant's scalable target with these instance-count bounds."""
    try:
        client().register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=resource_id(endpoint, variant),
            ScalableDimension=DIMENSION,
            MinCapacity=minimum,
            MaxCapacity=maximum,
        )
    except (ClientError, BotoCoreError) as error:
        raise DeployError(f"Scaling bounds {minimum}–{maximum} for {endpoint!r} failed: {_message(error)}") from error


def variant_bounds(*, endpoint: str, variant: str) -> dict[str, Any] | None:
    """The variant's scalable target as {"min", "max"}, or None when it has none."""
    try:
        found = client().describe_scalable_targets(
            ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint, variant)], ScalableDimension=DIMENSION
        )
    except (ClientError, BotoCoreError) as error:
        raise EndpointStatusUnavailable(f"Reading the scaling of {endpoint!r} failed: {_message(error)}") from error
    targets = found.get("ScalableTargets", [])
    if not targets:
        return None
    return {"min": int(targets[0]["MinCapacity"]), "max": int(targets[0]["MaxCapacity"])}
