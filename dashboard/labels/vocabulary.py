"""Which labels an item can be given, and a label given as a number or a name resolved against them."""

from __future__ import annotations

from typing import Any

from dashboard import selectors
from dashboard.exceptions import InvalidLabel


def item_label_names(item: dict[str, Any]) -> list[str]:
    """The labels of the model that classified `item`, in id order where that is known.

    The configured model's own labels (its config.json) when the item is that model's or carries
    the same classes; otherwise the classes its probabilities name, by name.
    """
    configured = selectors.model_labels()
    classes = list((item.get("probabilities") or {}).keys())
    if configured and (not classes or set(classes) <= set(configured)):
        return configured
    names = sorted(classes)
    if item.get("label_name") and item["label_name"] not in names:
        names.append(item["label_name"])
    return names


def label_resolve(*, item: dict[str, Any], value: object) -> tuple[int, str]:
    """(id, name) for `value`, an int id or a label name (any case), among the item's model's labels.

    Raises InvalidLabel, naming the labels it can take, for anything else.
    """
    names = item_label_names(item)
    if not names:
        raise InvalidLabel("This item's model has no known labels, so it cannot be labelled.")
    choices = ", ".join(f"{index} or {name!r}" for index, name in enumerate(names))
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidLabel(f"A label is a number or a name: {choices}.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if 0 <= value < len(names):
            return value, names[value]
        raise InvalidLabel(f"No label {value}: use {choices}.")
    wanted = value.strip().casefold()
    for index, name in enumerate(names):
        if name.casefold() == wanted:
            return index, name
    raise InvalidLabel(f"No label {value.strip()[:100]!r}: use {choices}.")
