"""A model's source as a local directory: an `s3://bucket/prefix` is downloaded once into a cache.

Directories and hub ids are returned as they are (`from_pretrained` reads them). An S3 source is
copied, every object under its prefix, into `MODEL_CACHE_DIR` (default var/models/cache) under a
name made from the URI, through a temporary directory renamed when the copy is whole, so a
half-finished download is never loaded and the next load of the same URI reads the cache.
`MODEL_S3_ENDPOINT_URL` points the client elsewhere (moto in the tests); credentials are boto3's own
(the instance role on EC2). Reads the environment only: the engine stays free of Django.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from classifier.exceptions import ModelLoadError

S3_SCHEME = "s3://"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "models" / "cache"


def model_source_local(source: str, *, client: Any = None) -> str:
    """`source` as something `from_pretrained` can read: an S3 prefix becomes its cached local copy."""
    if not source.startswith(S3_SCHEME):
        return source
    bucket, _, prefix = source[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ModelLoadError(f"{source!r} names no bucket; expected s3://bucket/prefix")
    cache = Path(os.environ.get("MODEL_CACHE_DIR") or DEFAULT_CACHE_DIR)
    target = cache / f"{bucket}-{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    if (target / "config.json").is_file():
        return str(target)
    client = client or _client()
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        for key in _keys(client, bucket, prefix, source):
            destination = work / key[len(prefix) :]
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                client.download_file(bucket, key, str(destination))
            except Exception as error:  # botocore's errors, as for the listing
                raise ModelLoadError(f"could not download s3://{bucket}/{key}: {error}") from error
        if not (work / "config.json").is_file():
            raise ModelLoadError(f"{source!r} has no config.json: not a model directory")
        try:
            work.rename(target)
        except OSError:  # another process finished the same copy first: use theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(target)


def _keys(client: Any, bucket: str, prefix: str, source: str) -> list[str]:
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    except Exception as error:  # botocore's errors, without importing botocore where S3 is unused
        raise ModelLoadError(f"could not list {source!r}: {error}") from error
    if not keys:
        raise ModelLoadError(f"nothing under {source!r}")
    return keys


def _client() -> Any:
    import boto3

    endpoint = os.environ.get("MODEL_S3_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint)
