"""Every exception the dashboard raises on purpose, in one place."""

from __future__ import annotations


class DashboardError(Exception):
    """Base class: a failure with a message that can be shown to a user."""


class StoreUnavailable(DashboardError):
    """DynamoDB could not be reached or refused the call (throttling, network, credentials)."""


class ItemNotFound(DashboardError):
    """No result item has this id."""


class ItemConflict(DashboardError):
    """A conditional write lost: the item was not in the state the writer expected."""


class QueueUnavailable(DashboardError):
    """Redis could not be reached, so the job was not enqueued."""
