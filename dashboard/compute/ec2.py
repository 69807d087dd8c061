"""The `ec2` backend: EC2_INSTANCE_IDS, through the `dashboard.aws.ec2` adapter."""

from __future__ import annotations

from django.conf import settings

from dashboard.aws import ec2
from dashboard.compute.base import ComputeBackend, Instance, state_from_ec2
from dashboard.exceptions import ComputeNotFound


class Ec2Backend(ComputeBackend):
    name = "ec2"
    supports_reboot = True

    def instance_ids(self) -> list[str]:
        return list(settings.EC2_INSTANCE_IDS)

    def _check(self, instance_id: str) -> None:
        if instance_id not in self.instance_ids():
            raise ComputeNotFound(f"{instance_id} is not one of EC2_INSTANCE_IDS")

    def instances(self) -> list[Instance]:
        return [
            Instance(
                id=raw["id"],
                state=state_from_ec2(raw["state"]),
                type=raw["type"],
                launch_time=raw["launch_time"],
                public_address=raw["public_address"],
                private_address=raw["private_address"],
                detail=raw["state"] if state_from_ec2(raw["state"]) != raw["state"] else "",
            )
            for raw in ec2.instances_describe(instance_ids=self.instance_ids())
        ]

    def start(self, instance_id: str) -> str:
        self._check(instance_id)
        return state_from_ec2(ec2.instances_start(instance_ids=[instance_id]).get(instance_id, "pending"))

    def stop(self, instance_id: str) -> str:
        self._check(instance_id)
        return state_from_ec2(ec2.instances_stop(instance_ids=[instance_id]).get(instance_id, "stopping"))

    def reboot(self, instance_id: str) -> None:
        self._check(instance_id)
        ec2.instances_reboot(instance_ids=[instance_id])
