"""Bulk parsers stop at the first limit, and the upload limits agree with the ones the site documents.

What stopping early saves in time and memory is measured by bench/abuse.py (docs/benchmarks.md),
not here: these tests check how much of a file is read, how many rows and problems are kept, and
what the user is told.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse
from hypothesis import given
from hypothesis import strategies as st

from dashboard import csv_upload
from dashboard.aws import dynamodb
from dashboard.models import Batch

ROOT = Path(__file__).resolve().parents[2]
# The issue's file: 5.2 MB, 2.6 million one-letter rows, inside the byte limit and far over the row limit.
ISSUE_CSV = b"text\n" + b"a\n" * 2_600_000


class CountingStream(io.BytesIO):
    """A file that remembers how many of its bytes were read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def _nothing_stored(queue) -> bool:
    return dynamodb.items_page_newest(limit=5)[0] == [] and queue.count == 0 and not Batch.objects.exists()


# --- the parsers ------------------------------------------------------------------------------


def test_a_csv_far_over_the_row_limit_is_read_only_just_past_the_limit(settings):
    settings.BATCH_MAX_ROWS = 100
    stream = CountingStream(b"text\n" + b"a\n" * 1_000_000)

    parsed = csv_upload.parse_csv(stream)

    assert parsed.problems == [(None, "There are more than 100 rows; one batch takes at most 100.")]
    assert len(parsed.rows) <= 101
    assert stream.bytes_read <= 256 * 1024  # of 2 MB


def test_a_count_one_past_the_limit_is_exact_and_rows_with_problems_count_too(settings):
    settings.BATCH_MAX_ROWS = 3

    parsed = csv_upload.parse_csv(b"id,text\nbad id!,a\nb1,b\nc1,c\nd1,d\n")

    assert parsed.problems[0] == (None, "There are 4 rows; one batch takes at most 3.")
    assert [row for row, _ in parsed.problems[1:]] == [2]


def test_pasted_lines_far_over_the_row_limit_stop_just_past_it(settings):
    settings.BATCH_MAX_ROWS = 100

    parsed = csv_upload.parse_lines("a\n" * 1_000_000)

    assert parsed.problems == [(None, "There are more than 100 rows; one batch takes at most 100.")]
    assert len(parsed.rows) <= 101


@pytest.mark.parametrize("parse", [csv_upload.parse_csv, lambda data: csv_upload.parse_lines(data.decode())])
def test_more_empty_rows_than_a_batch_has_rows_stop_the_reading(settings, parse):
    settings.BATCH_MAX_ROWS = 100

    parsed = parse(b"text\na\n" + b"\n" * 1_000_000 + b"b\n")

    assert parsed.problems == [
        (None, "There are more than 100 empty rows; remove them (one batch takes at most 100 rows).")
    ]


def test_a_few_trailing_blank_lines_are_still_fine(settings):
    settings.BATCH_MAX_ROWS = 100

    assert csv_upload.parse_csv(b"text\na\n" + b"\r\n" * 100).ok
    assert csv_upload.parse_lines("a\n" + "\n" * 100).ok


def test_a_json_list_over_the_limit_is_refused_before_any_entry_is_checked(settings):
    settings.BATCH_MAX_ROWS = 3

    parsed = csv_upload.parse_api_body({"texts": [5, None], "items": ["x", {"id": "a/b"}]})

    assert parsed.problems == [(None, "There are 4 rows; one batch takes at most 3.")]
    assert parsed.problem_count == 1


def test_problems_are_all_counted_but_only_the_first_hundred_kept_in_row_order():
    content = b"id,text\r\n" + b"".join(f"i{n},\r\n".encode() for n in range(250))  # every text empty

    parsed = csv_upload.parse_csv(content)

    assert parsed.problem_count == 250
    assert [row for row, _ in parsed.problems] == list(range(2, 2 + csv_upload.MAX_PROBLEMS_SHOWN))


def test_a_character_split_between_two_read_chunks_is_read_whole(settings):
    settings.SUBMISSION_MAX_CHARS = 100_000
    head = b"text\n"
    row = "x" * (64 * 1024 - len(head) - 1) + "é"  # its two bytes straddle the first 64 KiB

    parsed = csv_upload.parse_csv(head + row.encode() + b"\n")

    assert parsed.ok and parsed.rows[0].text == row


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text\n" + (b"f" * 99 + b"\n") * 1000 + b"caf\xe9\n", "The file is not UTF-8: byte 0xE9 on line 1002"),
        (b"text\nfine\nabc\xc3", "The file is not UTF-8: byte 0xC3 on line 3"),  # cut off mid-character
        (b"text\n" + (b"o" * 99 + b"\n") * 1000 + b"a\x00b\n", "The file contains NUL bytes"),
    ],
)
def test_a_bad_byte_far_into_the_file_is_found_and_placed(content, message):
    parsed = csv_upload.parse_csv(CountingStream(content))

    assert len(parsed.problems) == 1 and parsed.problems[0][1].startswith(message)
    assert not parsed.rows


# Cells, separators, quotes, line ends, characters of 2 and 3 bytes...
CSV_FINE = (b"text\n", b"id,text\n", b"a", b"x1", b",", b'"', b"\n", b"\r\n", b"\r", b"\xc3\xa9", b"\xe2\x82\xac")
# ...and a character cut short, a byte no UTF-8 has, NUL, a byte-order mark.
CSV_ODD = (b"\xc3", b"\xff", b"\x00", b"\xef\xbb\xbf")
CSV_PIECES = st.lists(st.sampled_from([*CSV_FINE, *CSV_ODD]), max_size=30).map(b"".join)


def _unreadable(parsed: csv_upload.ParsedBatch) -> bool:
    return parsed.problems[:1] != [] and parsed.problems[0][1].startswith(
        ("The file is not UTF-8", "The file contains")
    )


@given(CSV_PIECES)
def test_a_csv_read_in_tiny_chunks_gives_the_same_report_as_read_whole(content):
    whole = csv_upload.parse_csv(content)
    with mock.patch.object(csv_upload, "_CHUNK", 3):
        chunked = csv_upload.parse_csv(io.BytesIO(content))

    # A bad byte is reported when reading reaches it: read in small steps, a problem earlier in the
    # file (a header without a text column) can end the reading first. Otherwise the reports agree.
    if _unreadable(whole) == _unreadable(chunked):
        assert (chunked.rows, chunked.problems, chunked.problem_count) == (
            whole.rows,
            whole.problems,
            whole.problem_count,
        )
    else:
        assert _unreadable(whole) and chunked.problem_count >= 1


LINE_PIECES = st.text(alphabet="ab \t\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", max_size=60)


@given(LINE_PIECES)
def test_pasted_lines_read_in_pieces_are_the_lines_of_the_whole_text(content):
    with mock.patch.object(csv_upload, "_CHUNK", 3):
        assert list(csv_upload._lines(content)) == content.splitlines()


# --- over HTTP --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_issues_five_megabyte_csv_is_refused_as_more_than_the_limit(client, auth, results_table, queue):
    upload = SimpleUploadedFile("many.csv", ISSUE_CSV, content_type="text/csv")

    response = client.post("/api/v1/batches", {"file": upload}, headers=auth)

    assert response.status_code == 400
    body = response.json()
    reason = "There are more than 10,000 rows; one batch takes at most 10,000."
    assert body["problems"] == [{"row": None, "reason": reason}]
    assert body["more_problems"] == 0
    assert _nothing_stored(queue)


@pytest.mark.django_db
def test_an_api_rejection_counts_every_problem_and_lists_the_first_hundred(client, auth, results_table, queue):
    content = b"id,text\r\n" + b"".join(f"i{n},\r\n".encode() for n in range(250))

    response = client.post("/api/v1/batches", content, content_type="text/csv", headers=auth)

    body = response.json()
    assert response.status_code == 400 and "(250 problem(s))" in body["error"]
    assert len(body["problems"]) == 100 and body["more_problems"] == 150
    assert _nothing_stored(queue)


@pytest.mark.django_db
def test_a_4_mb_text_csv_batch_is_accepted(client, auth, results_table, queue, capacity_on, settings):
    rows = [f"{n:04d} " + "w" * (settings.SUBMISSION_MAX_CHARS - 5) for n in range(800)]
    content = ("text\n" + "\n".join(rows) + "\n").encode()
    assert len(content) > 4_000_000 > 2.5 * 1024 * 1024  # over Django's default body limit

    response = client.post("/api/v1/batches", content, content_type="text/csv", headers=auth)

    assert response.status_code == 202, response.content[:300]
    assert response.json()["total"] == 800
    assert queue.count > 0


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/csv", "application/json"])
def test_a_batch_body_over_the_limit_is_a_json_413_naming_it(
    client, auth, results_table, queue, settings, content_type
):
    body = b"x" * (settings.BATCH_MAX_BYTES + 1)

    response = client.post("/api/v1/batches", body, content_type=content_type, headers=auth)

    assert response.status_code == 413
    assert f"the limit is {settings.BATCH_MAX_BYTES:,}" in response.json()["error"]
    assert _nothing_stored(queue)


def _api_paths() -> list[str]:
    paths = []
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("api/"):
            route = str(pattern.pattern)
            for name in pattern.pattern.converters:
                route = route.replace(f"<str:{name}>", "x").replace(f"<path:{name}>", "x")
            paths.append("/" + route)
    return paths


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_a_json_413_on_every_api_route(client, auth, results_table, queue, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"text": "y" * 2000, "prompt": "y" * 2000, "texts": ["y" * 2000]})
    refused = set()

    for path in _api_paths():
        response = client.post(path, body, content_type="application/json", headers=auth)
        assert response.status_code in {405, 413}, (path, response.content[:200])  # 405: a read-only route
        if response.status_code == 413:
            assert response["Content-Type"] == "application/json"
            assert "1,024 bytes" in response.json()["error"]
            refused.add(path)

    assert {"/api/v1/batches", "/api/v1/submissions", "/api/v1/generate"} <= refused
    assert _nothing_stored(queue)


@pytest.mark.django_db
def test_a_multipart_api_body_over_the_upload_limit_is_a_json_413(user_client, results_table, queue, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = user_client.post("/api/v1/batches", {"note": "y" * 2000})

    assert response.status_code == 413 and response.json()["error"].startswith("The body is larger than")


@pytest.mark.django_db
def test_the_bulk_page_says_the_request_is_too_large(user, results_table, queue, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    browser = Client(enforce_csrf_checks=True)  # the token is read out of the post, as for a real browser
    browser.force_login(user)
    token = browser.get(reverse("dashboard:batch_new")).cookies["csrftoken"].value

    response = browser.post(reverse("dashboard:batch_new"), {"lines": "a text\n" * 500, "csrfmiddlewaretoken": token})

    html = response.content.decode()
    assert response.status_code == 413
    assert "The request is larger than the limit of 1,024 bytes." in html
    assert "Nothing from this request was stored" in html
    assert _nothing_stored(queue)


# --- settings ---------------------------------------------------------------------------------


def _settings_value(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; print(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "webapp.settings"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_body_limit_follows_the_batch_limit_and_cannot_be_set_below_it():
    from django.conf import settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= settings.BATCH_MAX_BYTES + settings.BATCH_FRAMING_BYTES
    derived = _settings_value({"BATCH_MAX_BYTES": "10485760"})
    assert derived.stdout.strip() == str(10485760 + 64 * 1024), derived.stderr[-2000:]
    too_small = _settings_value({"DATA_UPLOAD_MAX_MEMORY_SIZE": "1000000"})
    assert too_small.returncode != 0
    assert 'Environment variable "DATA_UPLOAD_MAX_MEMORY_SIZE" invalid' in too_small.stderr
    assert "must be at least 5308416, got 1000000" in too_small.stderr


@pytest.mark.django_db
def test_a_paste_over_the_row_limit_is_not_echoed_back_but_one_with_a_bad_line_is(user_client, results_table, settings):
    settings.BATCH_MAX_ROWS = 3

    over = user_client.post(reverse("dashboard:batch_new"), {"lines": "".join(f"pasted line {n}\n" for n in range(6))})
    bad = user_client.post(reverse("dashboard:batch_new"), {"lines": "a fine line\n" + "x" * 6000 + "\n"})

    assert over.status_code == 400 and "There are more than 3 rows" in over.content.decode()
    assert "pasted line 0" not in over.content.decode()
    assert bad.status_code == 400 and "a fine line" in bad.content.decode()
