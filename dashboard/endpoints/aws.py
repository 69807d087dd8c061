"""The `aws` endpoint backend: SageMaker endpoints through the thin adapters in dashboard/aws/.

Invocations go through `sagemaker_runtime`; status reads through `sagemaker`. Scaling is the power
manager's (deleting an endpoint while keeping its config, re-creating it from that config).
"""

from __future__ import annotations

from django.conf import settings

from dashboard.aws import sagemaker, sagemaker_deploy, sagemaker_runtime
from dashboard.endpoints.base import SCALED_TO_ZERO, Endpoint, EndpointBackend, Invocation
from dashboard.exceptions import DeployError, EndpointStatusUnavailable


class AwsEndpoints(EndpointBackend):
    name = "aws"

    def endpoint_names(self) -> list[str]:
        configured = [settings.SAGEMAKER_GENERATE_ENDPOINT, settings.SAGEMAKER_CLASSIFIER_ENDPOINT]
        names = [name for name in settings.SAGEMAKER_ENDPOINTS if name != "*"] + configured
        return list(dict.fromkeys(name for name in names if name))

    def endpoint_describe(self, name: str) -> Endpoint:
        try:
            described = sagemaker.endpoint_describe(name=name)
        except EndpointStatusUnavailable:
            if sagemaker_deploy.endpoint_status(name=name) is None:
                return Endpoint(name=name, state=SCALED_TO_ZERO)
            raise
        return Endpoint(
            name=described["name"],
            state=described["status"],
            instance_type=described["instance_type"],
            instance_count=described["instance_count"],
            failure_reason=described["failure_reason"],
            last_modified=described["last_modified"],
        )

    def scale_up(self, name: str) -> Endpoint:
        raise DeployError(
            f"Endpoint {name!r} is not brought up from here: deploy it with `manage.py sagemaker_deploy`."
        )

    def scale_to_zero(self, name: str) -> Endpoint:
        raise DeployError(f"Endpoint {name!r} is not scaled from here: remove it with `manage.py sagemaker_undeploy`.")

    def invoke(self, name: str, *, body: bytes, content_type: str, accept: str) -> Invocation:
        answer = sagemaker_runtime.invoke(endpoint=name, body=body, content_type=content_type, accept=accept)
        return Invocation(body=answer.body, content_type=answer.content_type)
