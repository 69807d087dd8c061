"""Print the IAM policy for the web tier or the GPU worker, limited to this deployment's resources.

    manage.py power_iam_policy --account-id 123456789012 > web-policy.json
    manage.py power_iam_policy --account-id 123456789012 --role worker > worker-policy.json

Built from the settings (EC2_INSTANCE_IDS, DYNAMODB_TABLE, SageMaker endpoint names, AWS_REGION),
so the policy names exactly the instances, tables and endpoints this console uses.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

TABLE_READ_WRITE = [
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
]

WORKER_TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"]


def _tables() -> list[str]:
    names = [settings.DYNAMODB_TABLE, getattr(settings, "DYNAMODB_GENERATIONS_TABLE", "")]
    return [name for name in names if name]


def _table_arns(region: str, account: str) -> list[str]:
    arns = []
    for name in _tables():
        arns += [
            f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            f"arn:aws:dynamodb:{region}:{account}:table/{name}/index/*",
        ]
    return arns


def web_policy(*, region: str, account: str) -> dict:
    statements: list[dict] = [
        {
            "Sid": "ResultsTables",
            "Effect": "Allow",
            "Action": TABLE_READ_WRITE,
            "Resource": _table_arns(region, account),
        },
        # EC2 cannot scope Describe* to resources; start/stop/reboot are limited to the fleet.
        {"Sid": "DescribeFleet", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
    ]
    if settings.EC2_INSTANCE_IDS:
        statements.append(
            {
                "Sid": "PowerTheFleet",
                "Effect": "Allow",
                "Action": ["ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances"],
                "Resource": [f"arn:aws:ec2:{region}:{account}:instance/{i}" for i in settings.EC2_INSTANCE_IDS],
            }
        )
    shown = settings.SAGEMAKER_ENDPOINTS
    if shown:
        statements.append(
            {"Sid": "ListEndpoints", "Effect": "Allow", "Action": ["sagemaker:ListEndpoints"], "Resource": "*"}
        )
        names = ["*"] if shown == ["*"] else shown
        statements.append(
            {
                "Sid": "EndpointStatus",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"],
                # The panel reads the config of each endpoint it shows, whose name it learns only from
                # DescribeEndpoint (endpoints made outside the console name theirs freely): read-only.
                "Resource": [f"arn:aws:sagemaker:{region}:{account}:endpoint/{n.lower()}" for n in names]
                + [f"arn:aws:sagemaker:{region}:{account}:endpoint-config/*"],
            }
        )
    managed = [name for name in shown if name != "*"]
    if managed:
        statements += _endpoint_power(region, account, managed)
    invoked = [
        name
        for name in (
            getattr(settings, "SAGEMAKER_GENERATE_ENDPOINT", ""),
            getattr(settings, "SAGEMAKER_CLASSIFIER_ENDPOINT", ""),
        )
        if name
    ]
    if invoked:
        statements.append(
            {
                "Sid": "InvokeEndpoints",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint"],
                "Resource": [f"arn:aws:sagemaker:{region}:{account}:endpoint/{n.lower()}" for n in invoked],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _endpoint_power(region: str, account: str, managed: list[str]) -> list[dict]:
    """Scaling managed endpoints to zero and back (dashboard/endpoints/aws.py), run by power_tick on the web host.

    A real-time endpoint is re-created from a config `sagemaker_deploy` stamped `<name>-<stamp>`, so
    CreateEndpoint is granted on those configs only. An async endpoint's instance count goes through
    Application Auto Scaling, which does not scope its calls to resources.
    """
    arn = f"arn:aws:sagemaker:{region}:{account}"
    statements: list[dict] = [
        {
            "Sid": "PowerTheEndpoints",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:AddTags",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
            ],
            "Resource": [f"{arn}:endpoint/{n.lower()}" for n in managed]
            + [f"{arn}:endpoint-config/{n.lower()}-*" for n in managed],
        },
        {"Sid": "FindKeptConfigs", "Effect": "Allow", "Action": ["sagemaker:ListEndpointConfigs"], "Resource": "*"},
    ]
    if any(settings.SAGEMAKER_ENDPOINT_KINDS.get(n) == "async" for n in managed):
        statements.append(
            {
                "Sid": "ScaleAsyncEndpoints",
                "Effect": "Allow",
                "Action": [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DescribeScalableTargets",
                ],
                "Resource": "*",
            }
        )
    return statements


def worker_policy(*, region: str, account: str) -> dict:
    """The GPU instance's role: the calls its code makes on the results table, nothing else.

    Its queue is Redis, reached over the network. UpdateItem covers claims, outcomes (TransactWriteItems
    is authorised per UpdateItem) and the reconciler's conditional resets; Query is the reconciler's
    by_status read at start-up. No PutItem, DeleteItem or BatchWriteItem: a worker never creates or
    deletes items. The same as the WorkerRole in deploy/cloudformation/console.yaml.
    """
    table = f"arn:aws:dynamodb:{region}:{account}:table/{settings.DYNAMODB_TABLE}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ClaimAndRecord",
                "Effect": "Allow",
                "Action": WORKER_TABLE_ACTIONS,
                "Resource": [table],
            },
            {
                "Sid": "ReconcileReads",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": [f"{table}/index/by_status"],
            },
            # user-data reads its own instance id from IMDSv2, which needs no IAM permission.
        ],
    }


class Command(BaseCommand):
    help = "Print the least-privilege IAM policy (JSON) for the web tier or the GPU worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account-id", required=True, help="12-digit AWS account id")
        parser.add_argument("--role", choices=["web", "worker"], default="web")
        parser.add_argument("--region", default=None, help="default: AWS_REGION")

    def handle(self, *args, **options) -> None:
        account = options["account_id"]
        if not re.fullmatch(r"\d{12}", account):
            raise CommandError(f"--account-id must be 12 digits, got {account!r}")
        region = options["region"] or settings.AWS_REGION
        build = web_policy if options["role"] == "web" else worker_policy
        self.stdout.write(json.dumps(build(region=region, account=account), indent=2))
