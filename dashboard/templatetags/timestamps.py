"""`{{ item.created_at|timestamp|date:"Y-m-d H:i:s" }}`: a stored ISO 8601 timestamp as a datetime.

Items keep their timestamps as strings (`classifier.contracts`); this reads them the same way the code
does, so a template formats a moment with Django's `date` filter instead of cutting characters out.
"""

from __future__ import annotations

from datetime import datetime

from django import template

from classifier.contracts import timestamp_parse

register = template.Library()


@register.filter
def timestamp(value: object) -> datetime | None:
    """The aware UTC datetime of a stored timestamp, or None (which `date` shows as nothing)."""
    return timestamp_parse(value)
