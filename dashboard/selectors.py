"""Reads: what the pages and the API show."""

from __future__ import annotations

from typing import Any

from dashboard.aws import dynamodb

ACTIVE_STATUSES = frozenset({"queued", "running"})


def submission_get(*, item_id: str) -> dict[str, Any]:
    return dynamodb.item_get(item_id=item_id)


def submission_page(*, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest-first page of results and the cursor of the next page."""
    return dynamodb.items_page_newest(limit=limit, cursor=cursor)


def submission_public(item: dict[str, Any]) -> dict[str, Any]:
    """The fields the API returns for an item: the result schema, nothing internal."""
    return {field: item.get(field) for field in dynamodb.ITEM_FIELDS}
