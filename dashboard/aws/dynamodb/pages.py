"""Pages of items, newest first: one pagination engine and one signed cursor format.

The engine plans a Query on the index whose key does the most filtering (`_plan`), then walks it
partition by partition (`_walk`); the month-bucketed `by_created` index is walked month by month.
The home table's pages are the explorer's with an empty filter, under their own cursor salt.

The Query loops here are hand-written rather than boto3 paginators: they stop at a scan budget,
resume from a cursor's position and build their ExclusiveStartKey from it, and read one entry more
than they show to know whether a next page exists.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from django.core import signing

from dashboard.aws.dynamodb import wire
from dashboard.aws.dynamodb.schema import INDEX_BY_CREATED, INDEX_BY_LABEL, INDEX_BY_MODEL, INDEX_BY_STATUS

# How far back a newest-first page walks through empty months before it calls the table exhausted.
MONTHS_LOOKBACK = 36
# One request reads at most this many index entries when a filter discards some (text contains,
# or a second filter on top of the index's key); the page then offers to continue from there.
DEFAULT_SCAN_BUDGET = 5000
PAGE_READ = 1000  # items per Query call when filtering or exporting (DynamoDB caps a response at 1 MB)

# Page cursors travel through the browser, so they are signed with SECRET_KEY: a cursor the server did not
# make is refused before any of it reaches a Query. One salt per page, so the home table's cursor is never
# read as the explorer's.
CURSOR_SALT_NEWEST = "dashboard.results.newest-page"
CURSOR_SALT_EXPLORER = "dashboard.results.explorer-page"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

Position = tuple[str, list[str] | None]  # (partition, [id, created_at]) or (partition, None)


@dataclass(frozen=True)
class ItemFilter:
    """What the explorer shows. Bounds are inclusive ISO-8601 UTC strings like `created_at`."""

    status: str | None = None
    label: str | None = None
    model: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    text: str | None = None
    # Filters no index key serves: each is a condition on the entries the chosen index reads.
    human_label: str | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    batch_id: str | None = None
    submitted_by: str | None = None

    def signature(self) -> str:
        """A short fingerprint, so a cursor made under one filter is refused under another."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    @property
    def discards(self) -> bool:
        """True when DynamoDB reads entries the filter then drops (items returned < items scanned)."""
        return _plan(self).filter_expression is not None


@dataclass
class Page:
    """One page of the explorer, newest first, with cursors both ways."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None
    scanned: int
    index: str
    budget_exhausted: bool = False


def items_page(
    *, item_filter: ItemFilter, limit: int, cursor: str | None = None, scan_budget: int | None = None
) -> Page:
    """A page of items matching the filter, newest first. Raises ValueError for a foreign cursor."""
    return _page(
        _plan(item_filter),
        item_filter,
        limit=limit,
        cursor=cursor,
        budget=scan_budget or DEFAULT_SCAN_BUDGET,
        salt=CURSOR_SALT_EXPLORER,
    )


def items_page_newest(*, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of every item, newest first, and the cursor of the next page (None at the end)."""
    everything = ItemFilter()
    page = _page(
        _plan(everything), everything, limit=limit, cursor=cursor, budget=DEFAULT_SCAN_BUDGET, salt=CURSOR_SALT_NEWEST
    )
    return page.items, page.next_cursor


def items_iter(*, item_filter: ItemFilter) -> Iterator[dict[str, Any]]:
    """Every item matching the filter, newest first, one Query page in memory at a time."""
    plan = _plan(item_filter)

    def pages() -> Iterator[list[dict[str, Any]]]:
        position: Position | None = _top(plan)
        while position is not None:
            walk = _walk(plan, start=position, older=True, limit=PAGE_READ, budget=None)
            yield walk.raws
            position = walk.position

    # Read the next page while this one is written out: DynamoDB's time overlaps ours, and memory
    # stays at two pages.
    source = pages()
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        upcoming = prefetch.submit(next, source, None)
        while (raws := upcoming.result()) is not None:
            upcoming = prefetch.submit(next, source, None)
            for raw in raws:
                yield wire.from_wire(raw)


# --- the plan: which index, and what the key cannot do as a filter ----------------------------


@dataclass(frozen=True)
class _Plan:
    index: str
    partition_attr: str
    partition: str | None  # None: the month-bucketed `by_created` index
    filter_expression: str | None
    names: dict[str, str]
    values: dict[str, dict[str, Any]]
    top_month: str
    bottom_month: str | None
    created_from: str | None
    created_to: str | None


def _plan(item_filter: ItemFilter) -> _Plan:
    """Choose the index whose key does the most filtering; what the key cannot do becomes a filter."""
    conditions: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    if item_filter.label:
        index, attr, partition = INDEX_BY_LABEL, "idx_label", item_filter.label
    elif item_filter.model:
        index, attr, partition = INDEX_BY_MODEL, "idx_model", item_filter.model
    elif item_filter.status:
        index, attr, partition = INDEX_BY_STATUS, "status", item_filter.status
    else:
        index, attr, partition = INDEX_BY_CREATED, "created_month", None
    if item_filter.status and attr != "status":
        conditions.append("#status = :status")
        names["#status"], values[":status"] = "status", {"S": item_filter.status}
    if item_filter.model and attr not in {"idx_model"}:
        conditions.append("#model = :model")
        names["#model"], values[":model"] = "model", {"S": item_filter.model}
    if item_filter.text:
        conditions.append("contains(#text, :text)")
        names["#text"], values[":text"] = "text", {"S": item_filter.text}
    for attr_name, value in (
        ("human_label_name", item_filter.human_label),
        ("batch_id", item_filter.batch_id),
        ("submitted_by", item_filter.submitted_by),
    ):
        if value:
            conditions.append(f"#{attr_name} = :{attr_name}")
            names[f"#{attr_name}"], values[f":{attr_name}"] = attr_name, {"S": value}
    if item_filter.confidence_min is not None:
        conditions.append("#confidence >= :confidence_min")
        names["#confidence"], values[":confidence_min"] = "confidence", wire.encode(item_filter.confidence_min)
    if item_filter.confidence_max is not None:
        conditions.append("#confidence <= :confidence_max")
        names["#confidence"], values[":confidence_max"] = "confidence", wire.encode(item_filter.confidence_max)
    # Nothing is created after now, so a "to" bound in the future starts from this month: starting from
    # its own month would walk empty months and give up (MONTHS_LOOKBACK) before reaching any item.
    now_month = wire.now_iso()[:7]
    top = min(item_filter.created_to[:7], now_month) if item_filter.created_to else now_month
    return _Plan(
        index=index,
        partition_attr=attr,
        partition=partition,
        filter_expression=" AND ".join(conditions) or None,
        names=names,
        values=values,
        top_month=top,
        bottom_month=item_filter.created_from[:7] if item_filter.created_from else None,
        created_from=item_filter.created_from,
        created_to=item_filter.created_to,
    )


def _top(plan: _Plan) -> tuple[str, None]:
    return (plan.partition if plan.partition is not None else plan.top_month, None)


# --- the engine: walking the index ------------------------------------------------------------


@dataclass
class _Walk:
    raws: list[dict[str, Any]] = field(default_factory=list)
    scanned: int = 0
    position: Position | None = None  # None: nothing further in this direction
    budget_exhausted: bool = False


def _walk(plan: _Plan, *, start: Position, older: bool, limit: int, budget: int | None) -> _Walk:
    """Collect up to `limit` matching entries from `start` (exclusive), towards older or newer items.

    A position is (partition, [id, created_at]) or (partition, None). For the month-bucketed index,
    (month, None) means "just above the newest entry of that month", in either direction.
    """
    walk = _Walk()
    partition, key = start
    if key is None and not older:
        if plan.partition is not None or partition >= plan.top_month:
            return walk
        partition = wire.next_month(partition)
    empty_months = month_scanned = 0
    while True:
        if budget is not None and walk.scanned >= budget:
            if key is None and not older:
                walk.position = (wire.previous_month(partition), None)
            else:
                walk.position = (partition, key)
            walk.budget_exhausted = True
            return walk
        wanted = limit - len(walk.raws)
        if plan.filter_expression:
            request_limit = PAGE_READ if budget is None else max(1, min(PAGE_READ, budget - walk.scanned))
        else:
            request_limit = min(wanted + 1, PAGE_READ + 1)  # one extra tells whether more follow
        response = _query_index(plan, partition=partition, key=key, older=older, limit=request_limit)
        walk.scanned += response.get("ScannedCount", 0)
        month_scanned += response.get("ScannedCount", 0)
        found = response.get("Items", [])
        last_key = _key_list(response.get("LastEvaluatedKey"))
        if len(found) >= wanted:
            walk.raws.extend(found[:wanted])
            if len(found) > wanted or last_key is not None:
                walk.position = _position_of(plan, found[wanted - 1])
                return walk
        else:
            walk.raws.extend(found)
            if last_key is not None:
                key = last_key
                continue
        # This partition is exhausted.
        if plan.partition is not None:
            return walk
        empty_months = 0 if month_scanned else empty_months + 1
        month_scanned = 0
        if older:
            if (plan.bottom_month and partition <= plan.bottom_month) or empty_months > MONTHS_LOOKBACK:
                return walk
            partition, key = wire.previous_month(partition), None
            if len(walk.raws) >= limit:
                walk.position = (partition, None)
                return walk
        else:
            if partition >= plan.top_month:
                return walk
            if len(walk.raws) >= limit:
                walk.position = (partition, None)
                return walk
            partition, key = wire.next_month(partition), None


def _key_list(last_key: dict[str, Any] | None) -> list[str] | None:
    if not last_key:
        return None
    return [last_key["id"]["S"], last_key["created_at"]["S"]]


def _query_index(plan: _Plan, *, partition: str, key: list[str] | None, older: bool, limit: int) -> dict[str, Any]:
    names = {"#pk": plan.partition_attr, **plan.names}
    values = {":pk": {"S": partition}, **plan.values}
    condition = "#pk = :pk"
    bounds = (plan.created_from, plan.created_to)
    if bounds[0] and bounds[1]:
        condition += " AND created_at BETWEEN :from AND :to"
    elif bounds[0]:
        condition += " AND created_at >= :from"
    elif bounds[1]:
        condition += " AND created_at <= :to"
    if bounds[0]:
        values[":from"] = {"S": bounds[0]}
    if bounds[1]:
        values[":to"] = {"S": bounds[1]}
    kwargs: dict[str, Any] = {
        "TableName": wire.table_name(),
        "IndexName": plan.index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not older,
        "Limit": limit,
    }
    if plan.filter_expression:
        kwargs["FilterExpression"] = plan.filter_expression
    if key is not None:
        kwargs["ExclusiveStartKey"] = _start_key(plan.partition_attr, partition, key)
    return wire.call("query", **kwargs)


def _start_key(partition_attr: str, partition: str, key: list[str]) -> dict[str, dict[str, Any]]:
    """The ExclusiveStartKey of a position (every index keys on its partition and `created_at` over the
    table's `id`): built here from plain strings, never taken whole from a cursor."""
    return {"id": {"S": key[0]}, "created_at": {"S": key[1]}, partition_attr: {"S": partition}}


def _partition_of(plan: _Plan, raw: dict[str, Any]) -> str:
    return plan.partition if plan.partition is not None else raw["created_month"]["S"]


def _position_of(plan: _Plan, raw: dict[str, Any]) -> tuple[str, list[str]]:
    return (_partition_of(plan, raw), [raw["id"]["S"], raw["created_at"]["S"]])


# --- a page and its cursors -------------------------------------------------------------------


def _walk_page(plan: _Plan, *, start: Position, older: bool, limit: int, budget: int) -> _Walk:
    """A page's walk. It reads one entry more than it shows, so a cursor is given only when that
    direction really holds more: a page that ends at a month's end never links to empty months."""
    walk = _walk(plan, start=start, older=older, limit=limit + 1, budget=budget)
    if len(walk.raws) > limit:
        walk.raws = walk.raws[:limit]
        walk.position = _position_of(plan, walk.raws[-1])
    elif not walk.budget_exhausted:
        walk.position = None
    return walk


def _page(plan: _Plan, item_filter: ItemFilter, *, limit: int, cursor: str | None, budget: int, salt: str) -> Page:
    def encode(position: Position, direction: str) -> str:
        return _cursor_encode(item_filter, position, direction, salt=salt)

    if cursor:
        start, direction = _cursor_decode(cursor, item_filter, plan, salt=salt)
    else:
        start, direction = _top(plan), "n"
    if direction == "p":
        walk = _walk_page(plan, start=start, older=False, limit=limit, budget=budget)
        if walk.position is None and not walk.budget_exhausted:
            return _page(plan, item_filter, limit=limit, cursor=None, budget=budget, salt=salt)  # back at the top
        raws = list(reversed(walk.raws))
        after = _position_of(plan, raws[-1]) if raws else start
        return Page(
            items=[wire.from_wire(raw) for raw in raws],
            next_cursor=encode(after, "n"),
            prev_cursor=encode(walk.position, "p") if walk.position else None,
            scanned=walk.scanned,
            index=plan.index,
            budget_exhausted=walk.budget_exhausted,
        )
    walk = _walk_page(plan, start=start, older=True, limit=limit, budget=budget)
    prev_cursor = None
    if cursor:
        before = _position_of(plan, walk.raws[0]) if walk.raws else start
        prev_cursor = encode(before, "p")
    return Page(
        items=[wire.from_wire(raw) for raw in walk.raws],
        next_cursor=encode(walk.position, "n") if walk.position else None,
        prev_cursor=prev_cursor,
        scanned=walk.scanned,
        index=plan.index,
        budget_exhausted=walk.budget_exhausted,
    )


def _cursor_encode(item_filter: ItemFilter, position: Position, direction: str, *, salt: str) -> str:
    """A signed, URL-safe cursor: the filter's signature, a position and a direction (n: older, p: newer)."""
    partition, key = position
    state = {"f": item_filter.signature(), "m": partition, "k": key, "d": direction}
    return signing.dumps(state, salt=salt, compress=True)


def _cursor_decode(cursor: str, item_filter: ItemFilter, plan: _Plan, *, salt: str) -> tuple[Position, str]:
    """The position and direction of a cursor this server signed with `salt`. ValueError for anything else."""
    try:
        state = signing.loads(cursor, salt=salt)
    except (signing.BadSignature, ValueError, UnicodeError, zlib.error):
        raise ValueError("Malformed page cursor") from None
    if not isinstance(state, dict):
        raise ValueError("Malformed page cursor")
    partition, key, direction = state.get("m"), state.get("k"), state.get("d")
    if state.get("f") != item_filter.signature() or direction not in ("n", "p"):
        raise ValueError("This page link belongs to another filter")
    if key is not None and not _is_key(key):
        raise ValueError("Malformed page cursor")
    if (plan.partition is None and not _is_month(partition)) or (
        plan.partition is not None and partition != plan.partition
    ):
        raise ValueError("Malformed page cursor")
    return (cast(str, partition), cast("list[str] | None", key)), cast(str, direction)


def _is_month(value: object) -> bool:
    return isinstance(value, str) and _MONTH.fullmatch(value) is not None


def _is_key(value: object) -> bool:
    """A position inside a partition as cursors carry it: [id, created_at]."""
    return isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) and part for part in value)
