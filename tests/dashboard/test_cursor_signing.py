"""Page cursors are signed: one the server did not make, or one of the wrong shape, is refused before it
reaches a Query. The explorer and the home table then say the link is no longer valid and show the first
page; nothing a cursor carries becomes a 500."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.core import signing
from django.urls import reverse

from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db

EXPLORER = dynamodb.CURSOR_SALT_EXPLORER
NEWEST = dynamodb.CURSOR_SALT_NEWEST


def _fill(count: int = 6) -> list[str]:
    ids = []
    for n in range(count):
        created_at = f"2026-10-{1 + n:02d}T12:00:00.000000Z"
        item = dynamodb.new_item(item_id=f"c-{n:04d}", text=f"text {n}", created_at=created_at)
        dynamodb.item_put_new(item=item)
        ids.append(item["id"])
    return ids


def _tampered(cursor: str) -> str:
    """The same cursor with one character of its payload changed."""
    index = 2
    replacement = "A" if cursor[index] != "A" else "B"
    return cursor[:index] + replacement + cursor[index + 1 :]


def _explorer_refuses(client, cursor: str, **params: str) -> None:
    response = client.get(reverse("dashboard:results"), {**params, "cursor": cursor})
    html = response.content.decode()
    assert response.status_code == 200
    assert "no longer valid" in html
    assert "c-0005" in html  # the first page, newest first


def test_cursors_are_url_safe_and_compact(results_table):
    _fill()
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2)
    _, newest = dynamodb.items_page_newest(limit=2)
    for cursor in (page.next_cursor, newest):
        assert re.fullmatch(r"[A-Za-z0-9_.\-:]+", cursor), cursor
        assert len(cursor) < 200


def test_a_tampered_explorer_cursor_is_refused(user_client, results_table):
    _fill()
    cursor = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2).next_cursor
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2, cursor=_tampered(cursor))
    _explorer_refuses(user_client, _tampered(cursor))


def test_a_cursor_signed_with_another_key_is_refused(user_client, results_table):
    _fill()
    cursor = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2).next_cursor
    state = signing.loads(cursor, salt=EXPLORER)
    forged = signing.dumps(state, key="another-secret-key-that-the-server-never-had", salt=EXPLORER, compress=True)
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2, cursor=forged)
    _explorer_refuses(user_client, forged)


def test_a_signed_cursor_for_another_filter_is_refused(user_client, results_table):
    _fill()
    cursor = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2).next_cursor
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(status="queued"), limit=2, cursor=cursor)
    response = user_client.get(reverse("dashboard:results"), {"status": "queued", "cursor": cursor})
    assert response.status_code == 200
    assert "no longer valid for these filters" in response.content.decode()


def test_a_home_page_cursor_is_not_an_explorer_cursor(user_client, results_table):
    _fill()
    _, newest = dynamodb.items_page_newest(limit=2)
    explorer = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2).next_cursor
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2, cursor=newest)
    with pytest.raises(ValueError):
        dynamodb.items_page_newest(limit=2, cursor=explorer)
    _explorer_refuses(user_client, newest)


def test_an_unsigned_cursor_carrying_a_start_key_is_refused(user_client, results_table):
    """The old, unsigned form: base64 JSON with DynamoDB's own ExclusiveStartKey inside."""
    _fill()
    crafted_key = {"id": {"S": "c-0003"}, "created_at": {"S": "2026-10-04T12:00:00.000000Z"}, "status": {"S": "x"}}
    raw = json.dumps({"m": "2026-10", "k": crafted_key, "w": 0}).encode()
    unsigned = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(ValueError):
        dynamodb.items_page_newest(limit=2, cursor=unsigned)
    html = user_client.get(reverse("dashboard:home"), {"cursor": unsigned}).content.decode()
    assert "no longer valid" in html


EXPLORER_BAD_STATES = {
    "month-not-a-string": {"m": 202610, "k": None, "d": "n"},
    "month-not-a-month": {"m": "2026-13", "k": None, "d": "n"},
    "month-with-a-suffix": {"m": "2026-10' OR 1=1", "k": None, "d": "n"},
    "key-a-dynamodb-map": {"m": "2026-10", "k": {"id": {"S": "c-0001"}}, "d": "n"},
    "key-of-numbers": {"m": "2026-10", "k": [1, 2], "d": "n"},
    "key-too-long": {"m": "2026-10", "k": ["c-0001", "2026-10-02T12:00:00.000000Z", "x"], "d": "n"},
    "key-empty-strings": {"m": "2026-10", "k": ["", ""], "d": "n"},
    "direction-unknown": {"m": "2026-10", "k": None, "d": "sideways"},
    "direction-a-list": {"m": "2026-10", "k": None, "d": ["n"]},
    "not-an-object": None,
}


@pytest.mark.parametrize("state", EXPLORER_BAD_STATES.values(), ids=EXPLORER_BAD_STATES.keys())
def test_a_validly_signed_explorer_cursor_of_the_wrong_shape_is_refused(user_client, results_table, state):
    """Signed with the server's own key and salt, so only the type checks stand between it and a Query."""
    _fill()
    item_filter = dynamodb.ItemFilter()
    payload = [1, 2] if state is None else {"f": item_filter.signature(), **state}
    cursor = signing.dumps(payload, salt=EXPLORER, compress=True)
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=item_filter, limit=2, cursor=cursor)
    _explorer_refuses(user_client, cursor)


def test_a_signed_cursor_cannot_move_a_label_filter_to_another_partition(user_client, results_table):
    """Under a label filter the partition is the label: a cursor naming another one is not a page of it."""
    _fill()
    item_filter = dynamodb.ItemFilter(label="positive")
    state = {"f": item_filter.signature(), "m": "negative", "k": None, "d": "n"}
    cursor = signing.dumps(state, salt=EXPLORER, compress=True)
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=item_filter, limit=2, cursor=cursor)
    response = user_client.get(reverse("dashboard:results"), {"label": "positive", "cursor": cursor})
    assert response.status_code == 200
    assert "no longer valid" in response.content.decode()


@pytest.mark.parametrize("state", EXPLORER_BAD_STATES.values(), ids=EXPLORER_BAD_STATES.keys())
def test_a_validly_signed_home_cursor_of_the_wrong_shape_is_refused(user_client, results_table, state):
    """The home table's cursors have the explorer's format (its pages are the explorer's, unfiltered)."""
    _fill()
    payload = [1, 2] if state is None else {"f": dynamodb.ItemFilter().signature(), **state}
    cursor = signing.dumps(payload, salt=NEWEST, compress=True)
    with pytest.raises(ValueError):
        dynamodb.items_page_newest(limit=2, cursor=cursor)
    for name in ("home", "results_table"):
        response = user_client.get(reverse(f"dashboard:{name}"), {"cursor": cursor})
        assert response.status_code == 200
        html = response.content.decode()
        assert "no longer valid" in html
        assert "c-0005" in html


def test_the_home_table_pages_through_every_item_with_its_own_links(user_client, results_table):
    ids = _fill()
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = dynamodb.items_page_newest(limit=4, cursor=cursor)
        seen.extend(item["id"] for item in items)
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    html = user_client.get(reverse("dashboard:home")).content.decode()
    next_link = re.search(r'href="(/\?cursor=[^"]+)">Next page', html)
    assert next_link, "the home table links its next page to the home page"
    second = user_client.get(next_link.group(1).replace("&amp;", "&")).content.decode()
    assert "no longer valid" not in second
    assert "c-0000" in second


def test_a_cursor_made_before_a_key_rotation_still_works(results_table, settings):
    _fill()
    cursor = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2).next_cursor
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2, cursor=cursor)
    assert [item["id"] for item in page.items] == ["c-0003", "c-0002"]
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2, cursor=cursor)
