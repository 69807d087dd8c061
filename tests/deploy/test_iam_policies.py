"""The example IAM policies in deploy/iam: what `power_iam_policy` prints, least-privilege, and enough.

"Enough" is checked for the worker by running a real one through a DynamoDB proxy and matching every
call it made against its policy's actions (a transaction is authorised per item, by that item's action).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.faults.conftest are used as arguments)

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from dashboard.aws import dynamodb
from tests.deploy.test_cloudformation import ROOT, UNSCOPABLE, _listed, _statements, template  # noqa: F401
from tests.faults.conftest import dynamo_proxy, wait_finished, workers  # noqa: F401

POLICIES = ROOT / "deploy" / "iam"
ACCOUNT = "123456789012"
# Resource wildcards allowed, each for a reason: a table's indexes; endpoint configs, which the panel
# can only name after DescribeEndpoint (read-only).
WILDCARD_RESOURCES = {
    "/index/*": None,
    ":endpoint-config/*": {"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"},
    # the configs `sagemaker_deploy` stamps `<name>-<stamp>`, which a scaled-to-zero endpoint is re-created from
    "-*": {
        "sagemaker:CreateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:AddTags",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    },
}
# The DynamoDB API call -> the IAM action that authorises it (a transaction's items: by their kind).
CALL_ACTION = {
    "GetItem": "dynamodb:GetItem",
    "BatchGetItem": "dynamodb:BatchGetItem",
    "UpdateItem": "dynamodb:UpdateItem",
    "PutItem": "dynamodb:PutItem",
    "DeleteItem": "dynamodb:DeleteItem",
    "BatchWriteItem": "dynamodb:BatchWriteItem",
    "Query": "dynamodb:Query",
    "Scan": "dynamodb:Scan",
    "DescribeTable": "dynamodb:DescribeTable",
}
TRANSACT_ACTION = {
    "Update": "dynamodb:UpdateItem",
    "Put": "dynamodb:PutItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@pytest.fixture
def example_settings(settings):
    """The settings deploy/iam's examples were printed with."""
    settings.AWS_REGION = "us-east-1"
    settings.DYNAMODB_TABLE = "classifier-results"
    settings.DYNAMODB_GENERATIONS_TABLE = "classifier-generations"
    settings.EC2_INSTANCE_IDS = ["i-0123456789abcdef0"]
    settings.SAGEMAKER_ENDPOINTS = ["classifier-xlnet"]
    settings.SAGEMAKER_ENDPOINT_KINDS = {}
    settings.SAGEMAKER_GENERATE_ENDPOINT = "gpt2-demo"
    settings.SAGEMAKER_CLASSIFIER_ENDPOINT = ""
    return settings


def _printed(role: str) -> dict:
    out = io.StringIO()
    call_command("power_iam_policy", "--account-id", ACCOUNT, "--role", role, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("role", ["web", "worker"])
def test_the_examples_are_what_the_command_prints(example_settings, role):
    assert json.loads((POLICIES / f"console-{role}-policy.json").read_text()) == _printed(role)


@pytest.mark.parametrize("role", ["web", "worker"])
def test_the_examples_are_least_privilege(role):
    for statement in json.loads((POLICIES / f"console-{role}-policy.json").read_text())["Statement"]:
        actions = set(_listed(statement["Action"]))
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in actions), (role, actions)
        if statement["Resource"] == "*":
            assert actions <= UNSCOPABLE, (role, actions)
            continue
        for arn in _listed(statement["Resource"]):
            assert arn.startswith("arn:aws:") and f":{ACCOUNT}:" in arn, arn
            if "*" in arn:
                allowed = next((ok for suffix, ok in WILDCARD_RESOURCES.items() if arn.endswith(suffix)), False)
                assert allowed is not False, arn
                assert allowed is None or actions <= allowed, (arn, actions)


# Read by deploy/ec2/user-data.sh at boot (the Redis AUTH token), not by the console's own code.
BOOT_ONLY = {"secretsmanager:GetSecretValue"}


def test_the_worker_example_grants_what_the_templates_worker_role_grants(template):
    in_template = {a for role, s in _statements(template) if role == "WorkerRole" for a in _listed(s["Action"])}
    assert BOOT_ONLY <= in_template
    in_template -= BOOT_ONLY
    example = json.loads((POLICIES / "console-worker-policy.json").read_text())["Statement"]
    assert {a for s in example for a in _listed(s["Action"])} == in_template
    assert not {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"} & in_template


@pytest.mark.django_db
@pytest.mark.slow
def test_a_real_worker_needs_nothing_its_policy_does_not_grant(workers, results_table, queue, dynamo_proxy):
    from dashboard.queue import classify_enqueue

    ids = []
    for number, text in enumerate(["I love it.", "Terrible.", "Fine, I suppose."]):
        item = dynamodb.new_item(item_id=f"iam-{number}", text=text)
        dynamodb.item_put_new(item=item)
        ids.append(item["id"])
    classify_enqueue(item_ids=ids)
    worker = workers.start("iam-check", DYNAMODB_ENDPOINT_URL=dynamo_proxy.url)
    items = wait_finished(ids, timeout=120, alive=[worker])
    assert {item["status"] for item in items.values()} == {"done"}

    granted = {
        action
        for statement in json.loads((POLICIES / "console-worker-policy.json").read_text())["Statement"]
        for action in _listed(statement["Action"])
    }
    used = set()
    for operation, body in dynamo_proxy.bodies:
        if operation == "TransactWriteItems":
            used |= {TRANSACT_ACTION[kind] for entry in json.loads(body)["TransactItems"] for kind in entry}
        else:
            used.add(CALL_ACTION[operation])
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"} <= used  # reconcile, claim, record
    assert used <= granted, used - granted
