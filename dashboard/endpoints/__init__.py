"""Model endpoints (SageMaker, or local processes serving the same container contract).

`backend()` returns the one configured by SAGEMAKER_BACKEND (`local` or `aws`).
"""

from __future__ import annotations

from django.conf import settings

from dashboard.endpoints.base import EndpointBackend


def backend() -> EndpointBackend:
    if settings.SAGEMAKER_BACKEND == "aws":
        from dashboard.endpoints.aws import AwsEndpoints

        return AwsEndpoints()
    from dashboard.endpoints.local import LocalEndpoints

    return LocalEndpoints()
