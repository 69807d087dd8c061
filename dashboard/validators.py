"""What a submission's text may be. Used by the form and the API alike."""

from __future__ import annotations

import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError

# Tab, newline and carriage return are ordinary in pasted text; other C0/C1 controls and NUL are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
ITEM_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
# JSON may carry a lone UTF-16 surrogate ("\ud800"); it is not a character, cannot be encoded as
# UTF-8, and would break every page and export that later shows the text.
_SURROGATE = re.compile("[\ud800-\udfff]")


def submission_text_clean(value: object) -> str:
    """Return the text to classify, or raise ValidationError with a message for the user."""
    if not isinstance(value, str):
        raise ValidationError("Text must be a string.", code="type")
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise ValidationError(
            f"Text contains an invalid character (a lone surrogate, U+{ord(surrogate.group()):04X}) "
            f"at position {surrogate.start() + 1}.",
            code="surrogate",
        )
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError("Text is empty. Type something to classify.", code="empty")
    limit = settings.SUBMISSION_MAX_CHARS
    if len(text) > limit:
        raise ValidationError(f"Text is {len(text):,} characters long; the limit is {limit:,}.", code="too_long")
    match = _CONTROL.search(text)
    if match:
        raise ValidationError(
            f"Text contains a control character (U+{ord(match.group()):04X}) at position {match.start() + 1}.",
            code="control_character",
        )
    return text


def item_id_valid(value: str) -> bool:
    return bool(ITEM_ID.match(value))
