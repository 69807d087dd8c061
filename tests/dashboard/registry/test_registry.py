"""The model registry: register, promote, roll back (services, API and pages), with the Redis pointer workers read."""

from __future__ import annotations

import json

import pytest

from classifier.contracts import SERVING_MODEL_KEY
from dashboard.exceptions import RegistryError
from dashboard.models import AuditEvent
from dashboard.registry import services
from dashboard.registry.models import ModelVersion
from dashboard.registry.pointer import serving_pointer_get

pytestmark = pytest.mark.django_db


def test_versions_number_themselves_per_name_and_read_their_metrics(staff, tmp_path, redis_conn):
    (tmp_path / "metrics.json").write_text(json.dumps({"validation": {"accuracy": 0.81}}))

    first = services.model_register(name="xlnet", source=str(tmp_path), user=staff, training_data="reviews v1")
    second = services.model_register(name="xlnet", source="org/xlnet-v2", user=staff)
    other = services.model_register(name="bert", source="org/bert", user=staff)

    assert [first.id, second.id, other.id] == ["xlnet@1", "xlnet@2", "bert@1"]
    assert first.metrics == {"validation": {"accuracy": 0.81}} and second.metrics == {}
    assert {first.status, second.status} == {"candidate"}
    assert AuditEvent.objects.filter(kind="model", action="model register").count() == 3


@pytest.mark.parametrize(("name", "source"), [("", "x"), ("has space", "x"), ("-dash", "x"), ("ok", " ")])
def test_a_bad_name_or_source_is_refused(staff, name, source):
    with pytest.raises(RegistryError):
        services.model_register(name=name, source=source, user=staff)
    assert not ModelVersion.objects.exists()


def test_promote_serves_one_version_and_writes_the_pointer_then_roll_back_returns(staff, redis_conn):
    one = services.model_register(name="m", source="/srv/m1", user=staff)
    two = services.model_register(name="m", source="/srv/m2", user=staff)

    services.model_promote(version_id=one.id, user=staff)
    services.model_promote(version_id=two.id, user=staff)

    assert {v.id: v.status for v in ModelVersion.objects.all()} == {"m@1": "retired", "m@2": "serving"}
    assert serving_pointer_get() == {"id": "m@2", "source": "/srv/m2"}
    back = services.model_rollback(user=staff)
    assert back.id == "m@1" and serving_pointer_get() == {"id": "m@1", "source": "/srv/m1"}
    assert {v.id: v.status for v in ModelVersion.objects.all()} == {"m@1": "serving", "m@2": "retired"}
    actions = list(AuditEvent.objects.filter(kind="model").values_list("action", "target").order_by("id"))
    assert actions[-2:] == [("model promote", "m@1"), ("model rollback", "m@1")]
    with pytest.raises(RegistryError, match="serving already"):
        services.model_promote(version_id="m@1", user=staff)


def test_a_promote_redis_refuses_changes_nothing(staff, redis_conn, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from dashboard.exceptions import QueueUnavailable

    one = services.model_register(name="m", source="/srv/m1", user=staff)

    def down(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(type(redis_conn), "set", down)
    with pytest.raises(QueueUnavailable):
        services.model_promote(version_id=one.id, user=staff)
    monkeypatch.undo()
    assert ModelVersion.objects.get().status == "candidate"
    assert redis_conn.get(SERVING_MODEL_KEY) is None


def test_nothing_to_roll_back_to_is_said(staff, redis_conn):
    services.model_promote(version_id=services.model_register(name="m", source="/srv", user=staff).id, user=staff)
    with pytest.raises(RegistryError, match="Nothing to roll back to"):
        services.model_rollback(user=staff)


def _token(user) -> dict[str, str]:
    from dashboard.services import api_token_create

    raw = api_token_create(user=user, name="t")[1]
    return {"Authorization": f"Bearer {raw}"}


def _post(client, path: str, headers: dict[str, str], body=None):
    if body is None:
        return client.post(path, headers=headers)
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def test_the_api_lists_registers_promotes_and_rolls_back_for_staff(client, staff, redis_conn):
    auth = _token(staff)
    created = _post(client, "/api/v1/models", auth, {"name": "m", "source": "/srv/m1", "training_data": "v1 data"})
    _post(client, "/api/v1/models", auth, {"name": "m", "source": "/srv/m2"})

    assert created.status_code == 201 and created.json()["id"] == "m@1"
    assert _post(client, "/api/v1/models/m@1/promote", auth).status_code == 200
    promoted = _post(client, "/api/v1/models/m@2/promote", auth)
    assert promoted.status_code == 200 and promoted.json()["status"] == "serving"
    listed = client.get("/api/v1/models", headers=auth).json()
    assert listed["serving"] == "m@2"
    assert [(v["id"], v["status"]) for v in listed["models"]] == [("m@2", "serving"), ("m@1", "retired")]
    assert listed["models"][1]["evaluation"] == "/api/v1/models/m@1/evaluation"
    assert _post(client, "/api/v1/models/rollback", auth).json()["id"] == "m@1"
    assert _post(client, "/api/v1/models/m@1/promote", auth).status_code == 409
    assert _post(client, "/api/v1/models/nope@1/promote", auth).status_code == 404
    assert _post(client, "/api/v1/models", auth, {"name": "bad name", "source": "x"}).status_code == 400
    assert _post(client, "/api/v1/models", auth, {"name": "m"}).status_code == 400


def test_only_staff_change_the_registry_and_a_refusal_is_audited(client, user, redis_conn):
    auth = _token(user)
    assert client.get("/api/v1/models", headers=auth).status_code == 200
    refused = _post(client, "/api/v1/models", auth, {"name": "m", "source": "/srv"})
    assert refused.status_code == 403 and refused.json() == {"error": "Only staff can change which model serves."}
    assert _post(client, "/api/v1/models/m@1/promote", auth).status_code == 403
    assert _post(client, "/api/v1/models/rollback", auth).status_code == 403
    assert not ModelVersion.objects.exists()
    assert AuditEvent.objects.filter(kind="model", outcome="refused").count() == 3


def test_staff_register_and_promote_from_the_models_page_after_a_confirm(client, staff, redis_conn, settings):
    client.force_login(staff)
    page = client.post("/models/register/", {"name": "m", "source": "/srv/m1"}, follow=True).content.decode()
    assert "Registered m@1 as a candidate." in page and 'href="/models/versions/m@1/promote/"' in page

    confirm = client.get("/models/versions/m@1/promote/").content.decode()
    assert 'Promote <span class="mono">m@1</span>?' in confirm
    assert ModelVersion.objects.get().status == "candidate"  # a GET changes nothing
    done = client.post("/models/versions/m@1/promote/", {"confirm": "yes"}, follow=True).content.decode()
    assert "Promoted m@1." in done and '<strong class="mono serving">m@1</strong>' in done
    assert client.get("/models/rollback/").content.decode().count("Nothing to roll back to") == 1


def test_a_user_sees_the_versions_but_gets_no_controls(client, user, staff, redis_conn):
    services.model_register(name="m", source="/srv/m1", user=staff)
    client.force_login(user)
    page = client.get("/models/").content.decode()
    assert 'data-version="m@1"' in page and "Promote…" not in page and "Register a version" not in page
    assert client.post("/models/versions/m@1/promote/", {"confirm": "yes"}).status_code == 403
    assert client.post("/models/register/", {"name": "x", "source": "/y"}).status_code == 403


class _Loaded:
    def __init__(self, source: str) -> None:
        self.model_name, self.source = source.rsplit("/", 1)[-1], source


def test_a_starting_worker_loads_the_serving_version_or_falls_back_to_the_configured_model(staff, redis_conn, settings):
    from dashboard.management.commands.inference_worker import Command

    settings.CLASSIFIER_MODEL = "/srv/configured"
    command = Command()
    assert command._engine_load(None, _Loaded).model_name == "configured"  # nothing promoted yet

    services.model_promote(version_id=services.model_register(name="m", source="/srv/m1", user=staff).id, user=staff)
    engine = command._engine_load(None, _Loaded)
    assert (engine.model_name, engine.source) == ("m@1", "/srv/m1")

    def failing(source: str) -> _Loaded:
        if source == "/srv/m1":
            raise OSError("no such directory")
        return _Loaded(source)

    assert command._engine_load(None, failing).model_name == "configured"
    assert command._engine_load("/srv/pinned", _Loaded).model_name == "pinned"  # --model pins the worker
