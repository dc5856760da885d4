"""Every error class of the provider: the Netskope client and hook, windows, staging, delivery.

Every message says what to do next and never contains an API token: the client redacts the
token from anything it echoes (response snippets, transport errors) before building an error.
An error that a task retry cannot fix (the connection, the role or the input must change first)
also derives from :class:`PermanentError`, and the task fails at once instead of retrying.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Mixin: a retry of the task cannot fix this error, so the task fails at once."""


class NetskopeError(Exception):
    """Base class: catch this to handle any failure of a Netskope pull."""


class NetskopeConfigError(NetskopeError, PermanentError, ValueError):
    """The Airflow connection (host, token source, options) is unusable as configured."""


class NetskopeAuthError(NetskopeError):
    """HTTP 401 even after re-reading the token: it expired, was rotated or revoked."""


class NetskopePermissionError(NetskopeError, PermanentError):
    """HTTP 403: the service account's role lacks the RBAC permission for this log type."""

    def __init__(self, message: str, *, log_type: str, rbac_permission: str) -> None:
        super().__init__(message)
        self.log_type = log_type
        self.rbac_permission = rbac_permission


class NetskopeNotFoundError(NetskopeError, PermanentError):
    """HTTP 404: the tenant host or the endpoint path is wrong."""


class NetskopeResponseError(NetskopeError):
    """The API answered, but not with a usable result (``ok: 0``, non-JSON body, HTTP 400...)."""

    def __init__(self, message: str, *, status: int | None = None, snippet: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.snippet = snippet


class NetskopePagingError(NetskopeResponseError):
    """The endpoint returned the same page for a different ``offset``: paging would loop or lose data."""


class NetskopeRetriesExhaustedError(NetskopeError):
    """A transient failure (5xx, reset, timeout, truncated body, 429/409) outlasted the retry budget."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class MappingError(ValueError):
    """A routed record lacks something its OCSF class requires (it is then delivered raw).

    Raised by the OCSF builders; the mapper catches it and counts the record as raw with this
    message as the reason.
    """


class WindowError(PermanentError, ValueError):
    """A window to pull is unusable (reversed, too long, in the future, out of range); the message says why."""


class StagingError(PermanentError, ValueError):
    """A staged file or folder would fall outside its run's folder, or the staging store cannot hold leases."""


class BalanceError(PermanentError):
    """Counts do not balance between two stages of a window: records would be lost."""


class CloudWatchDeliveryError(Exception):
    """Delivery to CloudWatch Logs could not complete; the message says what to do."""


class CloudWatchConfigError(CloudWatchDeliveryError, PermanentError):
    """A missing log group, refused parameters or credentials AWS does not accept: a retry cannot fix it."""


class CloudWatchPermissionError(CloudWatchConfigError):
    """The AWS identity lacks an IAM permission; ``permission`` names it (e.g. ``logs:PutLogEvents``)."""

    def __init__(self, message: str, *, permission: str) -> None:
        super().__init__(message)
        self.permission = permission


class CloudWatchEventRejectedError(CloudWatchDeliveryError, PermanentError):
    """An event broke a policy set to ``fail`` (timestamp out of range, or oversized)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StreamBusyError(CloudWatchDeliveryError):
    """Another delivery held a log stream's lease for longer than this one would wait; its retry tries again."""


class LeaseLostError(CloudWatchDeliveryError):
    """A delivery lost its stream's lease (renewals failed or another took it over); it stopped before writing more."""
