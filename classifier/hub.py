"""Hugging Face hub settings that must be in place before transformers is first imported."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.exceptions import ModelLoadError


def offline_by_default() -> None:
    """No machine of ours reaches the hub; online, each load first waits ~50 s on a lookup.

    huggingface_hub reads the variable once, at import, so callers run this before their first
    `import transformers`. Setting HF_HUB_OFFLINE=0 in the environment still opts back in.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def check_model_reference(reference: str) -> None:
    """Fail clearly on a missing local directory; the hub's error for it is about repo id syntax.

    Hub ids look like `name` or `owner/name`; anything absolute, relative with dots, or deeper
    than one slash can only be a path.
    """
    looks_like_path = reference.startswith(("/", ".", "~")) or reference.count("/") > 1
    if looks_like_path and not Path(reference).expanduser().is_dir():
        raise ModelLoadError(f"{reference}: no such model directory")
