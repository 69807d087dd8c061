"""The labelling pages against DynamoDB Local: a result's label form, the explorer's selection, review mode,
the Models page and the training CSV."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlparse

import pytest

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.labels.models import HumanLabel
from tests.dashboard.labels.support import done_item, queued_item

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits(user, redis_conn):
    yield
    ratelimit.submissions_reset(user=user)


def test_a_result_page_offers_a_button_per_label_and_keeps_the_choice(user_client, results_table):
    done_item("d-1", label_name="positive")
    page = user_client.get("/results/d-1/").content.decode()
    assert "Nobody has labelled this result yet" in page
    assert 'name="label" value="negative"' in page and 'name="label" value="positive"' in page

    response = user_client.post("/results/d-1/label/", {"label": "negative"}, follow=True)

    page = response.content.decode()
    assert "Labelled negative." in page
    assert 'Labelled <strong class="label">negative</strong> by alice' in page and "the model said positive" in page
    assert dynamodb.item_get(item_id="d-1")["human_label_name"] == "negative"


def test_the_label_comes_off_from_the_result_page(user_client, results_table):
    done_item("d-1")
    user_client.post("/results/d-1/label/", {"label": "negative"})
    response = user_client.post("/results/d-1/label/", {"label": ""}, follow=True)
    assert "The label is off." in response.content.decode()
    assert dynamodb.item_get(item_id="d-1")["human_label_name"] is None


def test_a_bad_label_or_an_unfinished_item_is_said_not_a_500(user_client, results_table):
    done_item("d-1")
    queued_item("q-1")
    bad = user_client.post("/results/d-1/label/", {"label": "neutral"}, follow=True).content.decode()
    queued = user_client.post("/results/q-1/label/", {"label": "negative"}, follow=True).content.decode()
    assert "Not labelled: No label &#x27;neutral&#x27;" in bad
    assert "Only done items can be labelled; this one is queued." in queued
    assert "A result can be labelled once it is done." in queued
    assert user_client.post("/results/nope/label/", {"label": "negative"}).status_code == 404
    assert user_client.get("/results/d-1/label/").status_code == 405


def test_the_explorer_labels_a_selection(user_client, results_table):
    done_item("d-1")
    done_item("d-2")
    queued_item("q-1")

    response = user_client.post(
        "/results/actions/",
        {"action": "label", "label": "negative", "ids": ["d-1", "d-2", "q-1"], "next": "/results/"},
        follow=True,
    )

    page = response.content.decode()
    assert "Labelled 2 item(s) negative. 1 not done, missing or changed meanwhile were left alone." in page
    assert page.count("✗ negative") == 2  # the rows mark a result people disagree with
    assert HumanLabel.objects.count() == 2


def test_the_explorer_filters_by_human_label_confidence_batch_and_submitter(user_client, results_table):
    done_item("a", confidence=0.55, batch_id="b1", submitted_by="bob")
    done_item("b", confidence=0.95, batch_id="b1", submitted_by="alice")
    done_item("c", confidence=0.6, submitted_by="bob")
    user_client.post("/results/a/label/", {"label": "negative"})

    def shown(query: str) -> set[str]:
        page = user_client.get(f"/results/?{query}").content.decode()
        return {item_id for item_id in "abc" if f'data-id="{item_id}"' in page}

    assert shown("human_label=negative") == {"a"}
    assert shown("confidence_min=0.5&confidence_max=0.7") == {"a", "c"}
    assert shown("confidence_min=0.9") == {"b"}
    assert shown("batch=b1") == {"a", "b"}
    assert shown("submitted_by=bob&confidence_max=0.58") == {"a"}
    assert shown("model=m&label=positive&human_label=negative") == {"a"}
    refused = user_client.get("/results/?confidence_min=0.9&confidence_max=0.1").content.decode()
    assert "The upper bound is below the lower one." in refused


def test_review_mode_walks_the_least_confident_first_and_undoes(user_client, results_table, settings):
    done_item("sure", confidence=0.99)
    done_item("unsure", confidence=0.51)
    done_item("middling", confidence=0.7)
    done_item("other-model", confidence=0.5, model="other")
    settings.CLASSIFIER_MODEL = "m"

    first = user_client.get("/review/").content.decode()
    assert 'data-id="unsure"' in first and "<kbd>1</kbd> negative" in first

    after_label = user_client.post(
        "/review/label/", {"item_id": "unsure", "model": "m", "label": "negative", "after": ""}, follow=True
    )
    page = after_label.content.decode()
    assert 'data-id="middling"' in page and "Undo <kbd>U</kbd>" in page
    assert dynamodb.item_get(item_id="unsure")["human_label_name"] == "negative"

    skip = urlparse(_skip_link(page))
    skipped = user_client.get(f"/review/?{skip.query}").content.decode()
    assert 'data-id="sure"' in skipped

    undone = user_client.post(
        "/review/undo/", {"item_id": "unsure", "model": "m", "previous": "", "after": ""}, follow=True
    ).content.decode()
    assert 'data-id="unsure"' in undone and "Undone." in undone
    assert dynamodb.item_get(item_id="unsure")["human_label_name"] is None


def test_review_mode_says_when_the_queue_is_empty(user_client, results_table, settings):
    settings.CLASSIFIER_MODEL = "m"
    done_item("d-1")
    user_client.post("/results/d-1/label/", {"label": "positive"})
    page = user_client.get("/review/").content.decode()
    assert "every done result of this model has a label" in page


def _skip_link(page: str) -> str:
    start = page.index('data-key="s" href="') + len('data-key="s" href="')
    return page[start : page.index('"', start)].replace("&amp;", "&")


def test_the_models_page_shows_the_evaluation_with_cells_that_open_the_explorer(user_client, results_table, settings):
    settings.CLASSIFIER_MODEL = "m"
    for n, (said, truth, confidence) in enumerate(
        [("positive", "positive", 0.9), ("positive", "negative", 0.8), ("negative", "negative", 0.6)]
    ):
        done_item(f"d-{n}", label_name=said, confidence=confidence)
        user_client.post(f"/results/d-{n}/label/", {"label": truth})

    page = user_client.get("/models/").content.decode()

    assert '<strong class="accuracy">0.667</strong>' in page
    assert '<dd class="num labelled">3 <span class="muted">(2 right)</span></dd>' in page
    link = "/results/?model=m&amp;label=positive&amp;human_label=negative"
    assert f'<a href="{link}"' in page
    shown = user_client.get(link.replace("&amp;", "&")).content.decode()
    assert 'data-id="d-1"' in shown and 'data-id="d-0"' not in shown
    assert page.count('class="point"') == 3  # one reliability point per occupied bin


def test_the_models_page_without_labels_says_so(user_client, results_table, settings):
    settings.CLASSIFIER_MODEL = "m"
    assert "Nobody has labelled a result of" in user_client.get("/models/").content.decode()


def test_the_training_csv_downloads(user_client, results_table):
    done_item("d-1")
    user_client.post("/results/d-1/label/", {"label": "negative"})
    response = user_client.get("/models/labels.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Disposition"].startswith('attachment; filename="labelled-')
    assert rows == [["text", "label", "label_name"], ["text of d-1", "0", "negative"]]
