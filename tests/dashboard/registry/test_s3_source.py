"""A model version kept in S3 (moto in server mode): downloaded once into the cache, then loaded like a directory."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from classifier.engine import load_engine
from classifier.exceptions import ModelLoadError
from classifier.model_source import model_source_local


@pytest.fixture
def bucket(moto_server, monkeypatch, tmp_path):
    for name, value in {
        "MODEL_S3_ENDPOINT_URL": moto_server.url,
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    client.create_bucket(Bucket="models")
    yield client
    moto_server.reset()


def _upload(client, folder: Path, prefix: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "models", f"{prefix}/{path.relative_to(folder)}")


def test_an_s3_version_is_downloaded_once_and_serves_like_its_directory(bucket, demo_model_dir, tmp_path):
    _upload(bucket, demo_model_dir, "demo/v2")

    local = Path(model_source_local("s3://models/demo/v2"))

    assert local.parent == tmp_path / "cache"
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in demo_model_dir.iterdir() if p.is_file())
    texts = ["The room was spotless and the staff were kind.", "Cold food and a rude waiter."]
    from_s3 = load_engine("s3://models/demo/v2").predict(texts)
    assert [p.label for p in from_s3] == [p.label for p in load_engine(str(demo_model_dir)).predict(texts)]
    for item in bucket.list_objects_v2(Bucket="models")["Contents"]:
        bucket.delete_object(Bucket="models", Key=item["Key"])
    assert model_source_local("s3://models/demo/v2") == str(local)  # from the cache, not S3
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [local.name]  # no half copies left


def test_bad_s3_sources_are_refused_with_the_reason(bucket, tmp_path):
    bucket.put_object(Bucket="models", Key="notes/readme.txt", Body=b"not a model")
    with pytest.raises(ModelLoadError, match="nothing under"):
        model_source_local("s3://models/missing")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        model_source_local("s3://models/notes")
    with pytest.raises(ModelLoadError, match="names no bucket"):
        model_source_local("s3://")
    with pytest.raises(ModelLoadError, match="could not list"):
        model_source_local("s3://no-such-bucket/x")
    assert list((tmp_path / "cache").iterdir()) == []


def test_directories_and_hub_ids_are_left_as_they_are():
    assert model_source_local("/srv/models/demo") == "/srv/models/demo"
    assert model_source_local("org/xlnet-reviews") == "org/xlnet-reviews"
