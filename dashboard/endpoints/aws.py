"""SageMaker endpoints (SAGEMAKER_BACKEND=aws), through the thin adapters in dashboard/aws/.

How each kind goes to zero and back (SAGEMAKER_ENDPOINT_KINDS; docs/power.md#endpoints compares them):
- `realtime`: DeleteEndpoint, keeping the endpoint config (and its model); CreateEndpoint from that config
  brings it back, in the minutes SageMaker takes to provision an instance and load the model. The config's
  name is remembered in Redis when the endpoint is seen, and otherwise found as the newest
  `<name>-<stamp>` config that `sagemaker_deploy` made, so a deleted endpoint is `ScaledToZero`, not missing.
- `async`: Application Auto Scaling bounds 0–0 and a desired count of 0; back with bounds 0–N and a desired
  count of N. The endpoint stays `InService` with no instance (SageMaker allows 0 only for async endpoints).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings

from dashboard.aws import autoscaling, sagemaker, sagemaker_deploy, sagemaker_runtime
from dashboard.endpoints import records
from dashboard.endpoints.base import (
    ASYNC,
    CREATING,
    DELETING,
    FAILED,
    IN_SERVICE,
    REALTIME,
    SCALED_TO_ZERO,
    UPDATING,
    Endpoint,
    EndpointBackend,
    Invocation,
)

# SageMaker's EndpointStatus values in our states.
_STATES = {
    "Creating": CREATING,
    "InService": IN_SERVICE,
    "Updating": UPDATING,
    "SystemUpdating": UPDATING,
    "RollingBack": UPDATING,
    "Deleting": DELETING,
    "Failed": FAILED,
    "OutOfService": FAILED,
    "UpdateRollbackFailed": FAILED,
}


class AwsEndpoints(EndpointBackend):
    name = "aws"

    def endpoint_names(self) -> list[str]:
        """SAGEMAKER_ENDPOINTS by name (`*` shows the region's endpoints on the panel, but manages none)."""
        return [name for name in settings.SAGEMAKER_ENDPOINTS if name != "*"]

    def endpoints(self) -> list[Endpoint]:
        names = self.endpoint_names()
        if "*" in settings.SAGEMAKER_ENDPOINTS:
            names += [name for name in sagemaker.endpoints_list() if name not in names]
        return [self.endpoint_describe(name) for name in names]

    def kind(self, name: str) -> str:
        return str(settings.SAGEMAKER_ENDPOINT_KINDS.get(name, REALTIME))

    def endpoint_describe(self, name: str) -> Endpoint:
        kind = self.kind(name)
        raw = sagemaker.endpoint_find(name=name)
        if raw is None:
            config = self._config_kept(name)
            if config is None:
                return Endpoint(
                    name=name,
                    state=FAILED,
                    kind=kind,
                    failure_reason=(
                        f"There is no endpoint {name!r} and no endpoint config to create it from: "
                        f"deploy it with `manage.py sagemaker_deploy --name {name}`."
                    ),
                )
            return Endpoint(
                name=name,
                state=SCALED_TO_ZERO,
                kind=kind,
                instance_type=config["instance_type"],
                config_name=config["name"],
            )
        if raw["config_name"]:
            records.config_remember(name, raw["config_name"])
        status = raw["status"]
        state = _STATES.get(status, FAILED)
        if state == IN_SERVICE and kind == ASYNC and raw["instance_count"] == 0:
            state = SCALED_TO_ZERO
        reason = raw["failure_reason"]
        if state == FAILED and not reason:
            reason = f"SageMaker says {status}."
        return Endpoint(
            name=name,
            state=state,
            kind=kind,
            instance_type=raw["instance_type"],
            instance_count=raw["instance_count"],
            failure_reason=reason,
            last_modified=raw["last_modified"],
            config_name=raw["config_name"],
        )

    def _config_kept(self, name: str) -> dict[str, Any] | None:
        """The endpoint config a deleted endpoint comes back from: the one it last ran, else the newest deployed."""
        remembered = records.config_remembered(name)
        if remembered:
            config = sagemaker.endpoint_config_find(name=remembered)
            if config is not None:
                return config
        for candidate in sagemaker.endpoint_configs_named(prefix=f"{name}-"):
            if sagemaker_deploy.STAMPED.fullmatch(candidate[len(name) :]):
                config = sagemaker.endpoint_config_find(name=candidate)
                if config is not None:
                    records.config_remember(name, candidate)
                    return config
        return None

    def scale_up(self, name: str) -> Endpoint:
        endpoint = self.endpoint_describe(name)
        if endpoint.state != SCALED_TO_ZERO:
            return endpoint
        if endpoint.kind == REALTIME:
            sagemaker_deploy.endpoint_create(name=name, config_name=endpoint.config_name)
            return replace(endpoint, state=CREATING)
        config = sagemaker.endpoint_config_find(name=endpoint.config_name) or {}
        count = max(1, int(config.get("instance_count") or 1))
        variant = self._variant(name)
        autoscaling.variant_bounds_set(endpoint=name, variant=variant, minimum=0, maximum=count)
        sagemaker_deploy.endpoint_capacity_set(name=name, variant=variant, count=count)
        return self.endpoint_describe(name)

    def scale_to_zero(self, name: str) -> Endpoint:
        endpoint = self.endpoint_describe(name)
        if endpoint.state in {SCALED_TO_ZERO, DELETING} or (endpoint.state == FAILED and not endpoint.config_name):
            return endpoint
        if endpoint.kind == REALTIME:
            records.config_remember(name, endpoint.config_name)
            sagemaker_deploy.endpoint_delete(name=name)
            return replace(endpoint, state=DELETING)
        variant = self._variant(name)
        autoscaling.variant_bounds_set(endpoint=name, variant=variant, minimum=0, maximum=0)
        sagemaker_deploy.endpoint_capacity_set(name=name, variant=variant, count=0)
        return self.endpoint_describe(name)

    def _variant(self, name: str) -> str:
        raw = sagemaker.endpoint_find(name=name)
        return (raw or {}).get("variant") or "AllTraffic"

    def invoke(self, name: str, *, body: bytes, content_type: str, accept: str) -> Invocation:
        records.invocation_record(name)
        answer = sagemaker_runtime.invoke(endpoint=name, body=body, content_type=content_type, accept=accept)
        return Invocation(body=answer.body, content_type=answer.content_type)
