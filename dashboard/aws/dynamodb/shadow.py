"""A candidate model's answers kept beside items (`shadow_*`), never touching their own results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dashboard.aws.dynamodb import wire
from dashboard.exceptions import ItemConflict

SHADOW_FIELDS = ("shadow_run", "shadow_model", "shadow_label", "shadow_label_name", "shadow_confidence", "shadow_ms")


def items_shadow_set(*, answers: list[dict[str, Any]], concurrency: int = 16) -> int:
    """Write each answer ({"id", and SHADOW_FIELDS}) on its item; items deleted meanwhile are skipped.

    Returns how many were written. Only `shadow_*` attributes change: the item's status, label and
    confidence are another model's and stay as they are.
    """

    def write(answer: dict[str, Any]) -> bool:
        fields = {name: answer[name] for name in SHADOW_FIELDS}
        try:
            wire.call(
                "update_item",
                TableName=wire.table_name(),
                Key={"id": {"S": answer["id"]}},
                UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in fields),
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues={f":{name}": wire.encode(value) for name, value in fields.items()},
            )
        except ItemConflict:
            return False
        return True

    if not answers:
        return 0
    with ThreadPoolExecutor(max_workers=min(concurrency, len(answers))) as pool:
        return sum(pool.map(write, answers))
