"""Generated requests to every route in the URL map: no input reaches a 500, and a refusal stores nothing.

Hypothesis walks Django's URL map (the site, the API, the admin and django-rq's pages), fills each
path's parameters with ids that exist and with random strings, and sends generated query strings,
JSON bodies, form posts, raw bodies and headers, as staff, as a user and logged out. For every answer:

- no 500 and no traceback in the body. 502/503/504 are answers too (a dependency the route needs is
  down: the SageMaker runtime here points at a closed port), as long as they come with a message;
- on a 4xx nothing was stored: the results table's items, the inference queue's jobs, and the rows of
  Batch, ApiToken, UserPreference and User are as before. AuditEvent is not compared: refusals are
  audited on purpose (a refused power action, a throttled login). Sessions are not either: a login
  form that fails stores none, but that is Django's to guarantee.

Deterministic (derandomize, no example database), with a bounded number of examples per role.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dashboard.aws import dynamodb
from dashboard.devservices import free_port
from dashboard.models import ApiToken, Batch, UserPreference
from dashboard.services import api_token_create

pytestmark = pytest.mark.django_db

# Examples per route and role: our own routes get more than each of the admin's (about 80, third-party).
SITE_EXAMPLES = 10
ADMIN_EXAMPLES = 2
TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"]+", line \d+')
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_GROUP = re.compile(r"\(\?P<(\w+)>((?:[^()\\]|\\.)*)\)")


@dataclass(frozen=True)
class Route:
    template: str  # "/results/{item_id}/": each {name} is filled in
    params: tuple[tuple[str, str], ...]  # (name, converter or a regex for regex routes)


def _routes() -> list[Route]:
    """Every URL pattern, resolvers walked recursively: path converters and regex groups become {name}."""
    found: list[Route] = []

    def text_of(pattern: Any, params: list[tuple[str, str]]) -> str:
        raw = str(pattern.pattern)
        if isinstance(pattern.pattern, RegexPattern):  # re_path: named groups, anchors, escapes

            def group(match: re.Match) -> str:
                params.append((match.group(1), "re:" + match.group(2)))
                return "{" + match.group(1) + "}"

            raw = _GROUP.sub(group, raw.lstrip("^").rstrip("$"))
            return re.sub(r"\\(.)", r"\1", raw.replace("/?", "/").replace("?", ""))

        def converter(match: re.Match) -> str:
            params.append((match.group(2), match.group(1) or "str"))
            return "{" + match.group(2) + "}"

        return _CONVERTER.sub(converter, raw)

    def walk(patterns: list, prefix: str, params: list[tuple[str, str]]) -> None:
        for pattern in patterns:
            own = list(params)
            text = prefix + text_of(pattern, own)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text, own)
            elif isinstance(pattern, URLPattern):
                found.append(Route("/" + text, tuple(own)))

    walk(get_resolver().url_patterns, "", [])
    return sorted(set(found), key=lambda route: route.template)


ROUTES = _routes()

# --- what is sent -------------------------------------------------------------------------------

NAMES = [
    "cursor", "size", "status", "label", "model", "created_from", "created_to", "text", "id", "ids", "limit",
    "partial", "next", "page", "kind", "user", "action", "confirm", "columns", "lines", "prompt",
    "max_new_tokens", "temperature", "q", "o", "p", "_changelist_filters", "format",
]  # fmt: skip
AWKWARD = [
    "", " ", "0", "-1", "1e309", "NaN", "99999999999999999999999", "２", "٣", "²", "0x10", "1.5", "true", "null",
    "2026-02-30", "2027-01-01T00:00", "2028-02-29", "9999-12-31T23:59", "../../etc/passwd", "<script>", "%00",
    "\x00", "'; DROP TABLE x; --", "a" * 5000, "done", "positive", "yes", "delete", "rerun", "download",
]  # fmt: skip
text_values = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=40))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(), text_values
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_values, inner, max_size=4),
    max_leaves=8,
)
field_names = st.one_of(st.sampled_from(NAMES), st.text(max_size=12))
queries = st.dictionaries(field_names, st.one_of(text_values, st.lists(text_values, max_size=3)), max_size=5)
CONTENT_TYPES = [
    "application/json", "application/json; charset=latin-1", "text/csv", "text/csv; charset=utf-16", "text/plain",
    "application/x-www-form-urlencoded", "application/octet-stream", "multipart/form-data; boundary=x", "junk", "",
]  # fmt: skip
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"{", b"[]", b'{"text": "\xff"}', b"text\n\xff\xfe\n", b"\xef\xbb\xbftext\na,b\n", b'"' * 50]),
    st.text(max_size=200).map(str.encode),
)


@st.composite
def bodies(draw) -> tuple[str, Any, str | None]:
    """(kind, payload, content type): a JSON document, a form (urlencoded or multipart), or raw bytes."""
    kind = draw(st.sampled_from(["json", "form", "multipart", "raw", "none"]))
    if kind == "json":
        document = draw(st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=5)))
        return kind, json.dumps(document).encode(), draw(st.sampled_from(CONTENT_TYPES[:2]))
    if kind == "form":
        return kind, draw(queries), None
    if kind == "multipart":  # a form with, at times, a file (the batch upload's CSV)
        fields = draw(queries)
        if draw(st.booleans()):
            name = draw(st.sampled_from(["batch.csv", "x.txt", "", "../../x.csv", "ü.csv"]))
            fields["file"] = SimpleUploadedFile(name or "f", draw(raw_bodies), content_type="text/csv")
        return kind, fields, None
    if kind == "raw":
        return kind, draw(raw_bodies), draw(st.sampled_from(CONTENT_TYPES))
    return kind, None, None


def headers(token: str) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "HTTP_AUTHORIZATION": st.sampled_from(
                [f"Bearer {token}"] * 4
                + ["Bearer junk", "Bearer ", "Basic YTpi", "bearer cls_" + "x" * 40, "Bearer \x7f", "Bearer é"]
            ),
            "HTTP_X_FORWARDED_FOR": st.sampled_from(["1.2.3.4", "junk, , 999.1.1.1", "::1", "a" * 300, ""]),
            "HTTP_ACCEPT": st.sampled_from(["application/json", "text/html", "*/*", "text/csv", ";;;"]),
            "HTTP_X_REQUESTED_WITH": st.sampled_from(["fetch", "XMLHttpRequest"]),
            "HTTP_HX_REQUEST": st.just("true"),
            "HTTP_USER_AGENT": text_values,
        },
    )


@st.composite
def paths(draw, route: Route, ids: dict[str, list[str]]) -> str:
    """The route's path with each parameter an id that exists, a plausible word, or random text."""
    path = route.template
    for name, kind in route.params:
        known = ids.get(name, []) + ids["any"]
        if kind == "int":
            random = st.integers(min_value=-5, max_value=10**12).map(str)
        elif kind.startswith("re:"):
            random = st.from_regex(kind[3:], fullmatch=True)
        elif kind == "path":
            random = st.text(max_size=30).filter(lambda v: "?" not in v and "#" not in v)
        else:
            random = st.text(max_size=30).filter(lambda v: v and "/" not in v and "?" not in v and "#" not in v)
        path = path.replace("{" + name + "}", draw(st.sampled_from(known) | random))
    return path


# --- what must not change on a refusal ------------------------------------------------------------


def _stored(queue) -> dict[str, int]:
    items = dynamodb.client().scan(TableName=dynamodb.table_name(), Select="COUNT", ConsistentRead=True)["Count"]
    return {
        "results items": items,
        "queued jobs": queue.count,
        "batches": Batch.objects.count(),
        "api tokens": ApiToken.objects.count(),
        "preferences": UserPreference.objects.count(),
        "users": get_user_model().objects.count(),
    }


def _body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _send(client: Client, method: str, path: str, query: dict, body: tuple, extra: dict):
    kind, payload, content_type = body
    call = getattr(client, method)
    if method == "options":
        return call(path + ("?" + _urlencoded(query) if query else ""), **extra)
    if method in {"get", "head"} or kind == "none":
        return call(path, query, **extra)
    if kind == "form":
        return call(path, data=_urlencoded(payload), content_type="application/x-www-form-urlencoded", **extra)
    if kind == "multipart" and method == "post":
        return call(path, data=payload, **extra)
    # generic() sends the bytes as they are; post() would first re-encode them to the charset named.
    target = path + ("?" + _urlencoded(query) if query else "")
    data = payload if isinstance(payload, bytes) else b""
    return client.generic(method.upper(), target, data=data, content_type=content_type or "", **extra)


def _urlencoded(data: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(data, doseq=True)


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_world(results_table, redis_conn, queue, staff, user, settings):
    """A few items, a batch and tokens to find, and dependencies that fail fast instead of hanging."""
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.SAGEMAKER_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.DYNAMODB_GENERATIONS_TABLE = f"fuzz-generations-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        dynamodb.item_put_new(item=dynamodb.new_item(item_id=f"fuzz-{n}", text=f"text {n}"))
    batch = Batch.objects.create(id="fuzz-batch", total=0, source="paste", created_by=user)
    _, staff_token = api_token_create(user=staff, name="fuzz")
    _, user_token = api_token_create(user=user, name="fuzz")
    ids = {
        "any": ["fuzz-0", "nope", str(user.pk)],
        "item_id": ["fuzz-1", "fuzz-2"],
        "batch_id": [batch.id],
        "object_id": [str(user.pk), str(staff.pk), batch.id],
        "queue_index": ["0", "1"],
        "action": ["stop", "reboot", "bogus"],  # never "start": a local backend would spawn a worker
    }
    return {"ids": ids, "tokens": {"staff": staff_token, "user": user_token, "anonymous": "junk"}, "queue": queue}


def _client_for(role: str, staff, user) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(staff if role == "staff" else user)
    return client


METHODS = st.sampled_from(["get", "get", "get", "post", "post", "post", "put", "patch", "delete", "head", "options"])


@pytest.mark.parametrize("role", ["staff", "user", "anonymous"])
def test_no_generated_request_reaches_a_500_or_stores_anything_when_refused(role, fuzz_world, staff, user):
    """Every route in turn (so none is left out by chance), each with its own generated requests."""
    ids, token, queue = fuzz_world["ids"], fuzz_world["tokens"][role], fuzz_world["queue"]
    client = _client_for(role, staff, user)
    last = {"stored": _stored(queue)}  # what the previous request left: the next one's "before"

    def check(method: str, path: str, query: dict, body: tuple, extra: dict) -> None:
        before = last["stored"]
        response = _send(client, method, path, query, body, extra)
        text = _body_text(response)
        where = f"{method.upper()} {path!r} as {role}: {response.status_code}"
        assert response.status_code != 500, where
        assert response.status_code < 500 or (response.status_code in {502, 503, 504} and text.strip()), where
        assert not TRACEBACK.search(text), where
        last["stored"] = _stored(queue)
        if 400 <= response.status_code < 500:
            assert last["stored"] == before, where
        if role != "anonymous":
            client.force_login(staff if role == "staff" else user)  # a logout route ends the session

    for route in ROUTES:
        admin = route.template.startswith("/admin/")
        run = hypothesis_settings(
            max_examples=ADMIN_EXAMPLES if admin else SITE_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            # No shrinking: the failing request is named in the assertion, and a shrink would take minutes.
            phases=[Phase.explicit, Phase.generate],
        )(given(method=METHODS, path=paths(route, ids), query=queries, body=bodies(), extra=headers(token))(check))
        run()


def test_the_route_walk_covers_the_site_the_api_the_admin_and_django_rq():
    templates = {route.template for route in ROUTES}
    for expected in (
        "/results/{item_id}/",
        "/api/v1/submissions/{item_id}",
        "/api/v1/batches",
        "/admin/login/",
        "/admin/django-rq/queues/{queue_index}/",
        "/power/instances/{instance_id}/{action}/",
    ):
        assert expected in templates, expected
    assert any(template.startswith("/admin/auth/user/") for template in templates)


def test_a_superscript_max_new_tokens_is_a_400(user_client, settings):
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    response = user_client.post(
        "/api/v1/generate", data={"prompt": "hello", "max_new_tokens": "²"}, content_type="application/json"
    )
    assert response.status_code == 400


# What the fuzzing found in django-rq's staff pages (dashboard.middleware.AdminLookupNotFoundMiddleware).
RQ_NOT_THERE = {
    "queue-out-of-range": "/admin/django-rq/queues/7/",
    "scheduler-out-of-range": "/admin/django_rq/dashboard/schedulers/7519/",
    "scheduler-not-installed": "/admin/django-rq/schedulers/0/",
    "job-id-rq-would-never-make": "/admin/django-rq/queues/0/d%C3%A9j%C3%A0.vu/",
    "job-missing": "/admin/django-rq/queues/0/no-such-job/delete/",
    "worker-key-malformed": "/admin/django-rq/workers/0/fuzz-0/",
    "worker-missing": "/admin/django-rq/workers/0/rq:worker:nobody/",
    "stand-in-model-record": "/admin/django_rq/dashboard/2/change/",
}


@pytest.mark.parametrize("token_in", ["path", "header"])
def test_a_non_ascii_django_rq_token_is_refused_not_a_500(user_client, redis_conn, settings, token_in):
    """A user who is not staff may still read the stats with RQ_API_TOKEN, so the token is compared."""
    settings.RQ_API_TOKEN = "a-token"
    if token_in == "path":
        response = user_client.get("/admin/django-rq/stats.json/%C3%A9t%C3%A9/")
    else:
        response = user_client.get("/admin/django-rq/stats.json/", headers={"Authorization": "Bearer été"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", RQ_NOT_THERE.values(), ids=RQ_NOT_THERE.keys())
def test_django_rq_pages_for_what_is_not_there_are_404(client, staff, redis_conn, path):
    client.force_login(staff)
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404


def test_django_rq_pages_for_what_is_there_still_answer(client, staff, queue):
    job = queue.enqueue("classifier.jobs.classify_items", ["x"])
    client.force_login(staff)
    assert client.get("/admin/django-rq/queues/0/").status_code == 200
    assert client.get(f"/admin/django-rq/queues/0/{job.id}/").status_code == 200
