"""The fast read parser overrides botocore's private `_do_parse`: on real DynamoDB responses it must return
exactly what botocore's stock JSON parser returns, so a botocore upgrade that breaks it fails here.

The responses were recorded from DynamoDB Local by fixtures/record_responses.py (rerun it after a botocore
upgrade, and this test checks the new version against the same wire bodies)."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import JSONParser

from dashboard.aws.dynamodb.wire import FastReadParser, FastReadParserFactory

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "dynamodb_responses.json").read_text())
RESPONSES = {entry["name"]: entry for entry in FIXTURES["responses"]}
SERVICE = botocore.session.get_session().get_service_model("dynamodb")


def _response(entry: dict) -> dict:
    return {
        "status_code": entry["status_code"],
        "headers": HeadersDict(entry["headers"]),
        "body": entry["body"].encode(),
        "context": {"operation_name": entry["operation"]},
    }


@pytest.mark.parametrize("name", RESPONSES)
def test_the_fast_parser_returns_what_botocores_parser_returns(name):
    entry = RESPONSES[name]
    shape = SERVICE.operation_model(entry["operation"]).output_shape

    fast = FastReadParser().parse(_response(entry), shape)
    stock = JSONParser().parse(_response(entry), shape)

    assert fast == stock


def test_the_recordings_cover_every_read_the_fast_path_takes_and_the_errors():
    operations = {entry["operation"] for entry in RESPONSES.values() if entry["status_code"] == 200}
    assert operations == {"Query", "Scan", "GetItem", "BatchGetItem"}
    errors = {json.loads(entry["body"]).get("__type", "").rsplit("#", 1)[-1] for entry in RESPONSES.values()}
    assert {"ConditionalCheckFailedException", "TransactionCanceledException"} <= errors
    item = json.loads(RESPONSES["get-item"]["body"])["Item"]
    assert {kind for value in item.values() for kind in value} >= {"S", "N", "BOOL", "NULL", "L", "M", "SS", "NS"}


def test_the_project_client_parses_json_with_the_fast_parser():
    assert isinstance(FastReadParserFactory().create_parser("json"), FastReadParser)
    assert SERVICE.resolved_protocol == "json"
