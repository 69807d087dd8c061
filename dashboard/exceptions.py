"""Every exception the dashboard raises on purpose, in one place."""

from __future__ import annotations


class DashboardError(Exception):
    """Base class: a failure with a message that can be shown to a user."""


class StoreUnavailable(DashboardError):
    """DynamoDB could not be reached or refused the call (throttling, network, credentials)."""


class StoreThrottled(StoreUnavailable):
    """A batched read or write still had keys or items DynamoDB left unprocessed when its retry time ran
    out (DYNAMODB_UNPROCESSED_RETRY_SECONDS). `left` counts them."""

    def __init__(self, message: str, *, left: int) -> None:
        super().__init__(message)
        self.left = left


class TransactionCancelled(StoreUnavailable):
    """DynamoDB cancelled a transaction for a reason other than a failed condition (a concurrent write).

    `reasons` holds DynamoDB's cancellation code for each action of the transaction, in order.
    """

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []


class ItemNotFound(DashboardError):
    """No result item has this id."""


class ItemConflict(DashboardError):
    """A conditional write lost: the item was not in the state the writer expected.

    For a transaction, `reasons` holds DynamoDB's cancellation code for each of its actions, in order
    ("ConditionalCheckFailed" for the ones that lost, "None" for the others).
    """

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []


class QueueUnavailable(DashboardError):
    """Redis could not be reached, so the job was not enqueued."""


# --- SageMaker endpoints: invoking and deploying ------------------------------------------


class EndpointError(DashboardError):
    """A SageMaker endpoint call failed; subclasses say why, the message says what to do.

    `retryable` says whether the same call can succeed later without anyone changing anything
    (throttling, a timeout, an endpoint still being created or updated, a service error)."""

    retryable = False


class EndpointNotReady(EndpointError):
    """The endpoint does not exist or is not InService (creating, updating, failed, deleted)."""

    retryable = True  # SageMaker says "not found" while an endpoint is still being created


class EndpointStarting(EndpointNotReady):
    """The endpoint was scaled to zero (or is still coming back) and is starting for this request.

    `retry_after` is the seconds it is expected to take, from the backend's typical start time."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EndpointPaused(EndpointNotReady):
    """A staff member paused the endpoint: it stays at zero until someone resumes it.

    Retryable for a job (its items wait for the resume), not for a person at the Generate page."""

    def __init__(self, message: str, *, paused_by: str = "", paused_at: float | None = None) -> None:
        super().__init__(message)
        self.paused_by = paused_by
        self.paused_at = paused_at


class EndpointThrottled(EndpointError):
    """SageMaker refused the call for rate; retrying later can succeed."""

    retryable = True


class EndpointModelError(EndpointError):
    """The container answered with an error (SageMaker's ModelError), or with a body we cannot read.

    Retryable only when the container said it was not ready or overloaded (a 502/503/504 of its own)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class EndpointTimeout(EndpointError):
    """No answer within SAGEMAKER_INVOKE_TIMEOUT seconds."""

    retryable = True


class EndpointUnavailable(EndpointError):
    """SageMaker could not be reached, or answered with a service error."""

    retryable = True


class DeployError(DashboardError):
    """Creating or removing a SageMaker model, endpoint config or endpoint failed."""


# --- Compute power management: EC2 and local instances -----------------------------------


class ComputeError(DashboardError):
    """Starting, stopping or describing an instance failed. `code` is AWS's error code (or ours);
    `retryable` says whether trying again later can succeed without someone changing something."""

    code = "ComputeError"
    retryable = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class ComputeStateConflict(ComputeError):
    """The instance is in a state that does not allow the action (EC2's IncorrectInstanceState)."""

    code = "IncorrectInstanceState"


class ComputeCapacityError(ComputeError):
    """AWS has no capacity for this instance type in its zone right now (InsufficientInstanceCapacity)."""

    code = "InsufficientInstanceCapacity"


class ComputeThrottled(ComputeError):
    """AWS refused the call for rate (RequestLimitExceeded, Throttling)."""

    code = "RequestLimitExceeded"


class ComputeUnauthorized(ComputeError):
    """The credentials lack permission (UnauthorizedOperation): an operator must fix the IAM policy."""

    code = "UnauthorizedOperation"
    retryable = False


class ComputeNotFound(ComputeError):
    """No instance with this id is managed by the console."""

    code = "InvalidInstanceID.NotFound"
    retryable = False


class PowerBusy(DashboardError):
    """Another process holds the fleet lock (a check deciding, or another staff action): try again shortly."""


class PowerHeld(ComputeError):
    """Staff hold this instance (or the fleet): it is not started until they release it."""

    code = "PowerHeld"
    retryable = False


class EndpointStatusUnavailable(DashboardError):
    """SageMaker's control plane (DescribeEndpoint/ListEndpoints) could not be read."""


# --- Bulk submission -----------------------------------------------------------------------


class BatchRejected(DashboardError):
    """A bulk submission failed validation; nothing was stored. `problems` lists (row, reason)."""

    def __init__(self, message: str, *, problems: list[tuple[int | None, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class BatchConflict(BatchRejected):
    """Ids a batch gave already belong to stored items (or to a batch written at the same time); nothing
    of this batch was kept and nothing of theirs was changed. `ids` lists them."""

    def __init__(self, message: str, *, ids: list[str], problems: list[tuple[int | None, str]] | None = None) -> None:
        super().__init__(message, problems=problems)
        self.ids = ids


class ItemsExist(ItemConflict):
    """A conditional write of new items found some of their ids taken. `ids` lists them."""

    def __init__(self, message: str, *, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


# --- Rate limits --------------------------------------------------------------------------


class RateLimited(DashboardError):
    """A user went over a per-user limit (submissions, generation tokens or slots); `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- Webhooks -----------------------------------------------------------------------------


class WebhookUrlRefused(DashboardError):
    """A webhook or callback URL that is malformed, or leads to an address that is not public (SSRF)."""


class WebhookHostUnresolved(WebhookUrlRefused):
    """The URL's host did not resolve (perhaps for now): a delivery retries, a registration is refused."""


class WebhookLimit(DashboardError):
    """A user already has as many webhooks as one may (dashboard.webhooks.services.WEBHOOKS_PER_USER)."""


class InvalidLabel(DashboardError):
    """A label that the item's model does not have, or an item that cannot be labelled (not done)."""


class RegistryError(DashboardError):
    """A model version that cannot be registered or promoted, with the reason."""


class FineTuneRefused(DashboardError):
    """A fine-tune that cannot start (bad data, an unknown base) or be cancelled, with the reason."""
