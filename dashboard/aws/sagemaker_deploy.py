"""SageMaker's control plane, write side: deploy our classifier container as an endpoint, and remove it.

A deployment named N is three resources: a model `N-<stamp>` (the image plus `model.tar.gz`), an
endpoint config `N-<stamp>` (instance type and count) and the endpoint `N`, the name callers
invoke. The stamp (UTC `YYYYMMDD-HHMMSS`) keeps every deployment's model and config apart, so a
failed or repeated deployment never collides with an earlier one, and undeploy can find leftovers.

Status reads for the dashboard live in `sagemaker.py`; invoking lives in `sagemaker_runtime.py`.
Errors arrive as `DeployError` with the step that failed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from dashboard.aws.clients import cached_client
from dashboard.exceptions import DeployError

# SageMaker's name rule for models, endpoint configs and endpoints (at most 63 characters).
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
NAME_MAX = 63
STAMP_LENGTH = len("-20250101-000000")
STAMPED = re.compile(r"-\d{8}-\d{6}$")
IN_PROGRESS = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}
TAG_KEY = "classifier-console:deployment"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    endpoint_config: str
    model: str


def client():
    """The process's SageMaker control-plane client for deployments (see dashboard/aws/clients.py)."""
    return cached_client(
        "sagemaker",
        endpoint_url=settings.SAGEMAKER_ENDPOINT_URL,
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 5, "mode": "standard"},
    )


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _missing(error: ClientError) -> bool:
    # SageMaker says "Could not find ..." with a ValidationException for a missing resource.
    message = error.response.get("Error", {}).get("Message", "").lower()
    return _code(error) in {"ValidationException", "ResourceNotFound"} and (
        "could not find" in message or "not found" in message or "does not exist" in message
    )


def _call(step: str, operation: str, **kwargs: Any) -> dict:
    try:
        return getattr(client(), operation)(**kwargs)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        raise DeployError(f"{step} failed: {_code(error)}: {message}") from error
    except BotoCoreError as error:
        raise DeployError(f"{step} failed: SageMaker is unreachable: {error}") from error


def name_check(name: str) -> None:
    limit = NAME_MAX - STAMP_LENGTH
    if not NAME.match(name) or len(name) > limit:
        raise DeployError(
            f"Name {name!r} is not usable: letters, digits and single hyphens, starting and ending with a "
            f"letter or digit, at most {limit} characters (a timestamp is appended for the model and config)."
        )


def endpoint_status(*, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when there is no such endpoint."""
    try:
        return client().describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _missing(error):
            return None
        raise DeployError(f"Describing endpoint {name!r} failed: {_code(error)}: {error}") from error
    except BotoCoreError as error:
        raise DeployError(f"Describing endpoint {name!r} failed: SageMaker is unreachable: {error}") from error


def deploy(
    *,
    name: str,
    image: str,
    model_data: str,
    role_arn: str,
    instance_type: str,
    instance_count: int = 1,
    environment: dict[str, str] | None = None,
    progress: Progress = lambda line: None,
) -> Deployment:
    """Create the model, endpoint config and endpoint. Does not wait; see `endpoint_wait`.

    A step that fails removes what the earlier steps made, so a failed deployment leaves nothing
    behind but the error.
    """
    name_check(name)
    if not model_data.startswith("s3://"):
        raise DeployError(f"--model-data must be an s3:// URI of a model.tar.gz, got {model_data!r}")
    if not role_arn.startswith("arn:"):
        raise DeployError("An execution role ARN is needed: pass --role-arn or set SAGEMAKER_EXECUTION_ROLE_ARN.")
    existing = endpoint_status(name=name)
    if existing is not None:
        raise DeployError(
            f"Endpoint {name!r} already exists ({existing['EndpointStatus']}). "
            f"Remove it first with `manage.py sagemaker_undeploy --name {name}`, or choose another name."
        )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    made = Deployment(endpoint=name, endpoint_config=f"{name}-{stamp}", model=f"{name}-{stamp}")
    tags = [{"Key": TAG_KEY, "Value": name}]
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", **(environment or {})}

    progress(f"Creating model {made.model} (image {image}, model data {model_data}) …")
    _call(
        "Creating the model",
        "create_model",
        ModelName=made.model,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data, "Environment": env},
        Tags=tags,
    )
    try:
        progress(f"Creating endpoint config {made.endpoint_config} ({instance_count} × {instance_type}) …")
        _call(
            "Creating the endpoint config",
            "create_endpoint_config",
            EndpointConfigName=made.endpoint_config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": made.model,
                    "InitialInstanceCount": instance_count,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            Tags=tags,
        )
        try:
            progress(f"Creating endpoint {made.endpoint} …")
            _call(
                "Creating the endpoint",
                "create_endpoint",
                EndpointName=made.endpoint,
                EndpointConfigName=made.endpoint_config,
                Tags=tags,
            )
        except DeployError:
            _delete_quietly("delete_endpoint_config", EndpointConfigName=made.endpoint_config)
            raise
    except DeployError:
        _delete_quietly("delete_model", ModelName=made.model)
        raise
    return made


def endpoint_wait(
    *,
    name: str,
    timeout: float = 1800.0,
    poll: float = 15.0,
    progress: Progress = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the endpoint is InService; DeployError if it fails, disappears or takes too long.

    A poll rather than boto3's `endpoint_in_service` waiter: it reports each status change as it
    happens, names the failure reason and the logs, and takes its sleep from the caller (tests).
    """
    started = time.monotonic()
    last = None
    while True:
        described = endpoint_status(name=name)
        elapsed = time.monotonic() - started
        if described is None:
            raise DeployError(f"Endpoint {name!r} disappeared while waiting for it (deleted elsewhere?).")
        status = described["EndpointStatus"]
        if status != last:
            progress(f"[{_clock(elapsed)}] endpoint {name}: {status}")
            last = status
        if status == "InService":
            return described
        if status not in IN_PROGRESS:
            reason = described.get("FailureReason") or "no reason given"
            raise DeployError(
                f"Endpoint {name!r} is {status}: {reason}. "
                f"Its CloudWatch logs are under /aws/sagemaker/Endpoints/{name}."
            )
        if elapsed >= timeout:
            raise DeployError(
                f"Endpoint {name!r} is still {status} after {_clock(elapsed)}; it may still finish. "
                f"Check it on the dashboard, or remove it with `manage.py sagemaker_undeploy --name {name}`."
            )
        sleep(min(poll, max(timeout - elapsed, 0.1)))


def undeploy(*, name: str, progress: Progress = lambda line: None) -> list[str]:
    """Delete the endpoint, its config and model, and leftovers of this deployment name. Returns what went.

    Leftovers are configs and models named `name-<stamp>`: those of earlier deployments, or of one
    whose endpoint was deleted elsewhere.
    """
    name_check(name)
    removed: list[str] = []
    configs: set[str] = set()
    models: set[str] = set()
    described = endpoint_status(name=name)
    if described is not None:
        config_name = described.get("EndpointConfigName")
        if config_name:
            configs.add(config_name)
            models.update(_models_of(config_name))
        progress(f"Deleting endpoint {name} ({described['EndpointStatus']}) …")
        _call("Deleting the endpoint", "delete_endpoint", EndpointName=name)
        removed.append(f"endpoint {name}")
    else:
        progress(f"No endpoint named {name}.")
    configs.update(_stamped("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", name))
    models.update(_stamped("list_models", "Models", "ModelName", name))
    for config_name in sorted(configs):
        progress(f"Deleting endpoint config {config_name} …")
        if _delete_quietly("delete_endpoint_config", EndpointConfigName=config_name):
            removed.append(f"endpoint config {config_name}")
    for model_name in sorted(models):
        progress(f"Deleting model {model_name} …")
        if _delete_quietly("delete_model", ModelName=model_name):
            removed.append(f"model {model_name}")
    return removed


def endpoint_create(*, name: str, config_name: str) -> None:
    """Create endpoint `name` from an existing endpoint config (bringing a scaled-to-zero endpoint back).

    An endpoint that already exists (another process re-created it first) is left as it is."""
    try:
        client().create_endpoint(
            EndpointName=name, EndpointConfigName=config_name, Tags=[{"Key": TAG_KEY, "Value": name}]
        )
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        if "already exist" in message.lower():
            return
        raise DeployError(
            f"Creating endpoint {name!r} from {config_name!r} failed: {_code(error)}: {message}"
        ) from error
    except BotoCoreError as error:
        raise DeployError(f"Creating endpoint {name!r} failed: SageMaker is unreachable: {error}") from error


def endpoint_delete(*, name: str) -> bool:
    """Delete the endpoint only (its config and model stay, to re-create it); False if it was already gone."""
    return _delete_quietly("delete_endpoint", EndpointName=name)


def endpoint_capacity_set(*, name: str, variant: str, count: int) -> None:
    """Set a variant's desired instance count (0 is allowed for an async endpoint with a scalable target)."""
    _call(
        f"Setting {name!r} to {count} instance(s)",
        "update_endpoint_weights_and_capacities",
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": variant, "DesiredInstanceCount": count}],
    )


def _models_of(config_name: str) -> list[str]:
    try:
        config = client().describe_endpoint_config(EndpointConfigName=config_name)
    except ClientError as error:
        if _missing(error):
            return []
        raise DeployError(f"Describing endpoint config {config_name!r} failed: {error}") from error
    return [variant["ModelName"] for variant in config.get("ProductionVariants", []) if variant.get("ModelName")]


def _stamped(operation: str, key: str, field: str, name: str) -> list[str]:
    found: list[str] = []
    try:
        pages = client().get_paginator(operation).paginate(NameContains=name, PaginationConfig={"PageSize": 100})
        for response in pages:
            for entry in response.get(key, []):
                candidate = entry[field]
                if candidate.startswith(f"{name}-") and STAMPED.fullmatch(candidate[len(name) :]):
                    found.append(candidate)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        raise DeployError(f"Listing {key} failed: {_code(error)}: {message}") from error
    except BotoCoreError as error:
        raise DeployError(f"Listing {key} failed: SageMaker is unreachable: {error}") from error
    return found


def _delete_quietly(operation: str, **kwargs: Any) -> bool:
    """Delete one resource; True if deleted, False if it was already gone."""
    try:
        getattr(client(), operation)(**kwargs)
    except ClientError as error:
        if _missing(error):
            return False
        raise DeployError(f"{operation} {kwargs} failed: {_code(error)}: {error}") from error
    except BotoCoreError as error:
        raise DeployError(f"{operation} failed: SageMaker is unreachable: {error}") from error
    return True


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
