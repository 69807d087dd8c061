"""Compute backends: the instances that run the inference worker, and the policy that powers them.

`backend()` returns the one configured by COMPUTE_BACKEND (`local` or `ec2`).
"""

from __future__ import annotations

from django.conf import settings

from dashboard.compute.base import ComputeBackend


def backend() -> ComputeBackend:
    if settings.COMPUTE_BACKEND == "ec2":
        from dashboard.compute.ec2 import Ec2Backend

        return Ec2Backend()
    from dashboard.compute.local import LocalBackend

    return LocalBackend()
