"""boto3 clients for the AWS adapters: one per process and setting, made on first use.

Never at import time (gunicorn and RQ fork, and a client does not survive that), shared by every
thread of the process (boto3 clients are thread-safe), and keyed by the settings that shape it so a
changed setting (a test, a shell) gets a fresh one. Credentials come from the default chain; only a
local emulator (an endpoint override) with no credentials in the environment gets placeholder keys.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

import boto3
from botocore.config import Config
from django.conf import settings

# boto3-stubs types `Session.client` per service name, so the name is one of these rather than any str.
Service = Literal["application-autoscaling", "dynamodb", "ec2", "sagemaker", "sagemaker-runtime"]

_lock = threading.Lock()
_clients: dict[tuple, Any] = {}


def cached_client(service: Service, *, endpoint_url: str | None, **config: Any) -> Any:
    """The process's `service` client for `endpoint_url` (None: AWS itself) and botocore `config`."""
    key = (os.getpid(), service, settings.AWS_REGION, endpoint_url, repr(sorted(config.items())))
    made = _clients.get(key)
    if made is not None:
        return made
    with _lock:
        if key not in _clients:
            kwargs: dict[str, Any] = {"region_name": settings.AWS_REGION, "config": Config(**config)}
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
                if not os.environ.get("AWS_ACCESS_KEY_ID"):
                    kwargs["aws_access_key_id"] = "local"
                    kwargs["aws_secret_access_key"] = "local"
            _clients[key] = boto3.session.Session().client(service, **kwargs)
        return _clients[key]
