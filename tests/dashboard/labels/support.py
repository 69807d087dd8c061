"""Done items to label, written through the calls the worker makes."""

from __future__ import annotations

from dashboard.aws import dynamodb

NAMES = ("negative", "positive")


def done_item(
    item_id: str, *, label_name: str = "positive", confidence: float = 0.7, model: str = "m", **extra
) -> None:
    """A done item of `model` that said `label_name` with `confidence` (and both classes' probabilities)."""
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}") | extra)
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    other = NAMES[1 - NAMES.index(label_name)]
    dynamodb.item_finish(
        item_id=item_id,
        status="done",
        claimed_by="t",
        label=NAMES.index(label_name),
        label_name=label_name,
        confidence=confidence,
        probabilities={label_name: confidence, other: 1 - confidence},
        model=model,
    )


def queued_item(item_id: str) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}"))
