"""The infrastructure template: cfn-lint clean, the tables exactly as the code creates them, IAM least-privilege."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "cloudformation" / "console.yaml"
# Actions AWS cannot scope to a resource: the only ones allowed on "*".
UNSCOPABLE = {
    "ec2:DescribeInstances",
    "sagemaker:ListEndpoints",
    "sagemaker:ListEndpointConfigs",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DescribeScalableTargets",
}


@pytest.fixture(scope="module")
def template() -> dict:
    from cfnlint.decode import decode

    decoded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return json.loads(json.dumps(decoded))  # plain dicts and lists


def test_cfn_lint_passes():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _indexes(definitions: list[dict]) -> dict[str, tuple]:
    return {
        index["IndexName"]: (
            tuple((key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]),
            index["Projection"]["ProjectionType"],
            tuple(sorted(index["Projection"].get("NonKeyAttributes", []))),
        )
        for index in definitions
    }


@pytest.mark.parametrize(
    ("resource", "ensure"),
    [
        ("ResultsTable", "dashboard.aws.dynamodb:table_ensure"),
        ("GenerationsTable", "dashboard.aws.dynamodb:generations_table_ensure"),
    ],
)
def test_tables_match_what_the_code_creates(template, resource, ensure, settings):
    """Create the table with the code's own table_ensure in DynamoDB Local and compare every key and index."""
    import importlib

    from dashboard.aws import dynamodb

    module_name, function = ensure.split(":")
    name = f"cfn-check-{uuid.uuid4().hex[:8]}"
    getattr(importlib.import_module(module_name), function)(name=name)
    try:
        created = dynamodb.client().describe_table(TableName=name)["Table"]
    finally:
        dynamodb.table_delete(name=name)
    declared = template["Resources"][resource]["Properties"]

    assert declared["KeySchema"] == created["KeySchema"]
    assert _indexes(declared["GlobalSecondaryIndexes"]) == _indexes(created["GlobalSecondaryIndexes"])
    assert {(a["AttributeName"], a["AttributeType"]) for a in declared["AttributeDefinitions"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in created["AttributeDefinitions"]
    }
    assert declared["BillingMode"] == "PAY_PER_REQUEST"
    assert template["Resources"][resource]["DeletionPolicy"] == "Retain"


def _statements(template: dict) -> list[tuple[str, dict]]:
    """Every IAM statement with the role it applies to: the roles' own policies and policies attached to them."""
    found = []
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                found += [(name, statement) for statement in policy["PolicyDocument"]["Statement"]]
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                found += [
                    (role["Ref"], statement) for statement in resource["Properties"]["PolicyDocument"]["Statement"]
                ]
    return found


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_iam_is_least_privilege(template):
    statements = _statements(template)
    assert {role for role, _ in statements} == {"WorkerRole", "WebRole"}
    for role, statement in statements:
        actions = _listed(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in actions), (role, actions)
        if statement["Resource"] == "*":
            assert set(actions) <= UNSCOPABLE, (role, actions)


def test_the_worker_role_cannot_touch_the_fleet_or_delete(template):
    actions = {action for role, s in _statements(template) if role == "WorkerRole" for action in _listed(s["Action"])}
    assert not any(action.startswith(("ec2:", "sagemaker:", "iam:")) for action in actions)
    assert not {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"} & actions


def test_workers_accept_no_inbound_traffic_and_require_imdsv2(template):
    resources = template["Resources"]
    assert "SecurityGroupIngress" not in resources["WorkerSecurityGroup"]["Properties"]
    data = resources["GpuLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_redis_is_optional(template):
    for name in ("Redis", "RedisSubnetGroup", "RedisSecurityGroup", "RedisAuthToken", "RedisAuthTokenRead"):
        assert template["Resources"][name]["Condition"] == "MakeRedis"
    assert template["Outputs"]["RedisUrl"]["Condition"] == "MakeRedis"


def test_redis_takes_only_tls_and_its_auth_token_from_secrets_manager(template):
    # Writing to Redis is running code on the workers (RQ imports the function a job names).
    resources = template["Resources"]
    redis = resources["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True and redis["AtRestEncryptionEnabled"] is True
    assert redis["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${RedisAuthToken}}}"}
    secret = resources["RedisAuthToken"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert 16 <= generated["PasswordLength"] <= 128 and generated["ExcludePunctuation"] is True
    assert template["Outputs"]["RedisUrl"]["Value"]["Fn::Sub"].startswith("rediss://")
    assert template["Outputs"]["RedisAuthTokenSecretArn"]["Value"] == {"Ref": "RedisAuthToken"}


def test_both_roles_may_read_the_redis_token_and_nothing_else_in_secrets_manager(template):
    reads = [
        (role, s)
        for role, s in _statements(template)
        if any(a.startswith("secretsmanager:") for a in _listed(s["Action"]))
    ]
    assert sorted(role for role, _ in reads) == ["WebRole", "WorkerRole"]
    for _, statement in reads:
        assert _listed(statement["Action"]) == ["secretsmanager:GetSecretValue"]
        assert statement["Resource"] == {"Ref": "RedisAuthToken"}
