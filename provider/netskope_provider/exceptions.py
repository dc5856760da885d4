"""Errors raised by the Netskope client and hook.

Every message says what to do next and never contains an API token: the client redacts the
token from anything it echoes (response snippets, transport errors) before building an error.
"""

from __future__ import annotations


class NetskopeError(Exception):
    """Base class: catch this to handle any failure of a Netskope pull."""


class NetskopeConfigError(NetskopeError, ValueError):
    """The Airflow connection (host, token source, options) is unusable as configured."""


class NetskopeAuthError(NetskopeError):
    """HTTP 401 even after re-reading the token: it expired, was rotated or revoked."""


class NetskopePermissionError(NetskopeError):
    """HTTP 403: the service account's role lacks the RBAC permission for this log type."""

    def __init__(self, message: str, *, log_type: str, rbac_permission: str) -> None:
        super().__init__(message)
        self.log_type = log_type
        self.rbac_permission = rbac_permission


class NetskopeNotFoundError(NetskopeError):
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
