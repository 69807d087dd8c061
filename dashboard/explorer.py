"""The results explorer's request side: its filter form and its columns (no DynamoDB here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.conf import settings

from classifier.contracts import timestamp_of
from dashboard.aws.dynamodb import STATUSES, ItemFilter
from dashboard.validators import item_id_valid

# (key, heading). The checkbox and id columns are always shown, as in the DynamoDB console.
COLUMNS = (
    ("result", "Result"),
    ("status", "Status"),
    ("confidence", "Confidence"),
    ("model", "Model"),
    ("created", "Created"),
    ("text", "Text"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)
COLUMNS_PREFERENCE = "results_columns"


def columns_clean(value: object) -> list[str]:
    """The visible columns from a stored or posted value; unknown names are dropped."""
    if not isinstance(value, list):
        return list(COLUMN_KEYS)
    return [key for key in COLUMN_KEYS if key in value]


def _bound(value: date | datetime | None, *, end: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        if end and moment.second == 0 and moment.microsecond == 0:
            moment = moment.replace(second=59, microsecond=999999)  # "until 10:30" includes 10:30:xx
    else:
        moment = datetime.combine(value, time.max if end else time.min, tzinfo=UTC)
    return timestamp_of(moment)


def _page_size_choices() -> list[tuple[int, str]]:
    # A callable: Django reads it whenever the choices are used, so they follow the setting.
    return [(n, str(n)) for n in settings.RESULTS_PAGE_SIZES]


class ExplorerForm(forms.Form):
    """The explorer's query string. Invalid values are reported and ignored, never a 500."""

    id = forms.CharField(required=False, max_length=128, label="Item id")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *((s, s) for s in STATUSES)])
    label = forms.CharField(required=False, max_length=100)
    model = forms.CharField(required=False, max_length=500)
    created_from = forms.DateTimeField(
        required=False, label="Created from", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
    )
    created_to = forms.DateTimeField(
        required=False, label="Created to", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
    )
    text = forms.CharField(required=False, max_length=200, label="Text contains", strip=False)
    human_label = forms.CharField(required=False, max_length=100, label="Labelled as")
    confidence_min = forms.FloatField(required=False, min_value=0, max_value=1, label="Confidence from")
    confidence_max = forms.FloatField(required=False, min_value=0, max_value=1, label="Confidence to")
    batch = forms.CharField(required=False, max_length=32, label="Batch")
    submitted_by = forms.CharField(required=False, max_length=150, label="Submitted by")
    size = forms.TypedChoiceField(required=False, coerce=int, choices=_page_size_choices, empty_value=None)
    cursor = forms.CharField(required=False, max_length=4000)

    def clean_id(self) -> str:
        value = self.cleaned_data["id"].strip()
        if value and not item_id_valid(value):
            raise forms.ValidationError("Ids are 1-128 letters, digits, '_', '-' or '.'.")
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end is before the start.")
        low, high = data.get("confidence_min"), data.get("confidence_max")
        if low is not None and high is not None and low > high:
            self.add_error("confidence_max", "The upper bound is below the lower one.")
        return data

    def value(self, name: str):
        return self.cleaned_data.get(name) if self.is_bound and hasattr(self, "cleaned_data") else None

    def item_filter(self) -> ItemFilter:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        valid = {name: data.get(name) for name in data if name not in self.errors}
        created_from, created_to = valid.get("created_from"), valid.get("created_to")
        # A bare date in "to" means the whole day; a datetime-local value is given to the minute.
        raw_to = self.data.get("created_to", "")
        return ItemFilter(
            status=valid.get("status") or None,
            label=(valid.get("label") or "").strip() or None,
            model=(valid.get("model") or "").strip() or None,
            created_from=_bound(created_from, end=False),
            created_to=_bound(created_to.date() if created_to and len(raw_to) == 10 else created_to, end=True),
            text=valid.get("text") or None,
            human_label=(valid.get("human_label") or "").strip() or None,
            confidence_min=valid.get("confidence_min"),
            confidence_max=valid.get("confidence_max"),
            batch_id=(valid.get("batch") or "").strip() or None,
            submitted_by=(valid.get("submitted_by") or "").strip() or None,
        )

    def page_size(self) -> int:
        size = self.value("size") if "size" not in self.errors else None
        return size or settings.RESULTS_PAGE_SIZE

    def query_without(self, *names: str) -> str:
        """This query string minus some parameters, for links that change only those."""
        params = self.data.copy() if hasattr(self.data, "copy") else {}
        for name in names:
            params.pop(name, None)
        return params.urlencode() if hasattr(params, "urlencode") else ""


class BatchForm(forms.Form):
    file = forms.FileField(required=False, label="CSV file")
    lines = forms.CharField(
        required=False,
        strip=False,
        label="Or paste texts, one per line",
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "One text per line…"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("file") and not (data.get("lines") or "").strip():
            raise forms.ValidationError("Choose a CSV file or paste some lines.")
        if data.get("file") and (data.get("lines") or "").strip():
            raise forms.ValidationError("Send a file or pasted lines, not both.")
        return data
