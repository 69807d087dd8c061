"""The results and generations tables in DynamoDB: the only package that talks to them.

One module per concept:
- `wire`: the process's client and its fast read parser, error translation (`call`, `paginate`), the codec;
- `retry`: backoff for what a batched call left unprocessed;
- `schema`: the indexes, creating the table, adding the indexes an older table lacks;
- `items`: one item's lifecycle (new, put, get, claim, release, finish, requeue, cancel);
- `claims`: a micro-batch's claims and outcomes;
- `labels`: people's labels on done items, and the review queue;
- `shadow`: a candidate model's answers kept beside items;
- `bulk`: bulk writes, conditional batch writes, deletes and rollbacks;
- `pages`: the one pagination engine and its signed cursors;
- `reads`: batch and chart reads;
- `generations`: the generations table.

Callers import the package (`from dashboard.aws import dynamodb`); the names below are its public API.
A test that replaces a function replaces it in the module that looks it up (e.g. `wire.call`).
"""

from __future__ import annotations

from classifier.contracts import timestamp_parse
from dashboard.aws.dynamodb.bulk import items_delete_many, items_delete_own, items_put_many, items_put_new_many
from dashboard.aws.dynamodb.claims import Finished, items_claim_many, items_finish_many
from dashboard.aws.dynamodb.generations import (
    GENERATION_FIELDS,
    generation_get,
    generation_put,
    generations_newest,
    generations_table_ensure,
    generations_table_name,
)
from dashboard.aws.dynamodb.items import (
    CANCELLABLE,
    item_cancel,
    item_claim,
    item_fail_abandoned,
    item_finish,
    item_finish_queued,
    item_get,
    item_put_new,
    item_release,
    item_requeue,
    items_cancel_many,
    new_item,
)
from dashboard.aws.dynamodb.labels import item_label_clear, item_label_set, items_labelled_iter, review_queue
from dashboard.aws.dynamodb.pages import (
    CURSOR_SALT_EXPLORER,
    CURSOR_SALT_NEWEST,
    ItemFilter,
    Page,
    items_iter,
    items_page,
    items_page_newest,
)
from dashboard.aws.dynamodb.reads import (
    batch_item_statuses,
    batch_items_iter,
    batch_status_counts,
    items_created_since,
    items_get_many,
    items_with_status,
    label_count_since,
    status_count,
)
from dashboard.aws.dynamodb.retry import RETRY_CAP_SECONDS
from dashboard.aws.dynamodb.schema import (
    INDEX_BY_CREATED,
    index_attributes,
    store_ping,
    table_delete,
    table_ensure,
)
from dashboard.aws.dynamodb.shadow import items_shadow_set
from dashboard.aws.dynamodb.wire import (
    ITEM_FIELDS,
    ITEM_TIMING_FIELDS,
    STATUSES,
    TRANSACT_LIMIT,
    client,
    now_iso,
    table_name,
)

__all__ = [
    "CANCELLABLE",
    "CURSOR_SALT_EXPLORER",
    "CURSOR_SALT_NEWEST",
    "GENERATION_FIELDS",
    "INDEX_BY_CREATED",
    "ITEM_FIELDS",
    "ITEM_TIMING_FIELDS",
    "RETRY_CAP_SECONDS",
    "STATUSES",
    "TRANSACT_LIMIT",
    "Finished",
    "ItemFilter",
    "Page",
    "batch_item_statuses",
    "batch_items_iter",
    "batch_status_counts",
    "client",
    "generation_get",
    "generation_put",
    "generations_newest",
    "generations_table_ensure",
    "generations_table_name",
    "index_attributes",
    "item_cancel",
    "item_claim",
    "item_fail_abandoned",
    "item_finish",
    "item_finish_queued",
    "item_get",
    "item_label_clear",
    "item_label_set",
    "item_put_new",
    "item_release",
    "item_requeue",
    "items_cancel_many",
    "items_claim_many",
    "items_created_since",
    "items_delete_many",
    "items_delete_own",
    "items_finish_many",
    "items_get_many",
    "items_iter",
    "items_labelled_iter",
    "items_page",
    "items_page_newest",
    "items_put_many",
    "items_put_new_many",
    "items_shadow_set",
    "items_with_status",
    "label_count_since",
    "new_item",
    "now_iso",
    "review_queue",
    "status_count",
    "store_ping",
    "table_delete",
    "table_ensure",
    "table_name",
    "timestamp_parse",
]
