"""``NetskopeHook``: turns an Airflow connection into a ready ``NetskopeClient``.

The hook owns everything Airflow-specific: reading the connection, enforcing the host rules,
fetching the token from the password or AWS Secrets Manager (and again after a 401, because a
rotation invalidates the old token at once), and masking the token in task logs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

from netskope_provider.api import options
from netskope_provider.api.client import DEFAULT_TIMEOUT, NetskopeClient
from netskope_provider.api.host import check_tenant_host
from netskope_provider.api.page import RawPage
from netskope_provider.api.redact import check_token
from netskope_provider.compat import BaseHook, mask_secret
from netskope_provider.config import parse_bool
from netskope_provider.exceptions import NetskopeConfigError, NetskopeError

if TYPE_CHECKING:
    from netskope_provider.compat import Connection

#: botocore's DEBUG logs dump whole responses, the secret value included, before we can mask it.
_AWS_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.response", "urllib3.connectionpool")
_EXTRA_PREFIX = "extra__netskope__"
#: Connection extras passed straight to ``NetskopeClient`` (name -> type); each must be finite and >= 0.
_CLIENT_EXTRAS: dict[str, type] = {
    "rate_limit_per_second": float,
    "max_retries": int,
    "lookback_seconds": int,
    "backoff_base_seconds": float,
    "backoff_cap_seconds": float,
    "max_wait_seconds": float,
    "max_page_bytes": int,
}
#: An ARN names its region: arn:aws:secretsmanager:<region>:<account>:secret:<name>.
_ARN_REGION = re.compile(r"^arn:aws[\w-]*:secretsmanager:([a-z0-9-]+):")
_HOOK_EXTRAS = {
    "allow_non_goskope_host",
    "scheme",
    "secret_arn",
    "aws_conn_id",
    "ca_bundle",
    "proxies",
    "connect_timeout",
    "read_timeout",
    "iterator_clock",
}


class NetskopeHook(BaseHook):
    """Connection to a Netskope tenant (REST API v2, RBAC v3 service-account token).

    :param netskope_conn_id: Airflow connection of type ``netskope``: host = tenant host,
        password = API token (or extra ``secret_arn`` + ``aws_conn_id`` for Secrets Manager).
    :param client_options: override connection extras for the client (e.g. ``backoff_base_seconds``).
    """

    conn_name_attr = "netskope_conn_id"
    default_conn_name = "netskope_default"
    conn_type = "netskope"
    hook_name = "Netskope"

    def __init__(self, netskope_conn_id: str = default_conn_name, **client_options: Any) -> None:
        super().__init__()
        self.netskope_conn_id = netskope_conn_id
        self.client_options = client_options

    @cached_property
    def extras(self) -> dict[str, Any]:
        """Connection extras with the legacy ``extra__netskope__`` prefix removed."""
        extras = {key.removeprefix(_EXTRA_PREFIX): value for key, value in self._connection().extra_dejson.items()}
        unknown = sorted(set(extras) - _HOOK_EXTRAS - set(_CLIENT_EXTRAS))
        if unknown:
            self.log.warning("Ignoring unknown extras of connection %s: %s", self.netskope_conn_id, ", ".join(unknown))
        return extras

    def get_conn(self) -> NetskopeClient:
        return self.get_client()

    def get_client(self) -> NetskopeClient:
        """The hook's client, built once: one session and one token read per hook."""
        return self._client

    @cached_property
    def _client(self) -> NetskopeClient:
        conn = self._connection()
        extras = self.extras
        scheme = str(extras.get("scheme") or "https").lower()
        host = conn.host or ""
        if conn.port and ":" not in host.rsplit("]", 1)[-1]:
            host = f"{host}:{conn.port}"
        allow_other_host = parse_bool(
            extras.get("allow_non_goskope_host") or False, "Connection extra allow_non_goskope_host"
        )
        host = check_tenant_host(host, scheme=scheme, allow_non_goskope_host=allow_other_host)
        settings: dict[str, Any] = {
            name: options.number(
                extras[name], kind, f"Connection extra {name}", exclusive=name == "rate_limit_per_second"
            )
            for name, kind in _CLIENT_EXTRAS.items()
            if extras.get(name) is not None
        }
        if extras.get("iterator_clock") is not None:
            settings["iterator_clock"] = extras["iterator_clock"]
        if extras.get("ca_bundle") is not None:
            settings["verify"] = options.ca_bundle(extras["ca_bundle"], "Connection extra ca_bundle")
        if extras.get("proxies") is not None:
            settings["proxies"] = options.proxies(extras["proxies"], "Connection extra proxies")
        if extras.get("connect_timeout") is not None or extras.get("read_timeout") is not None:
            connect, read = DEFAULT_TIMEOUT
            settings["timeout"] = (
                options.number(
                    extras.get("connect_timeout", connect), float, "Connection extra connect_timeout", exclusive=True
                ),
                options.number(
                    extras.get("read_timeout", read), float, "Connection extra read_timeout", exclusive=True
                ),
            )
        settings.update(self.client_options)
        return NetskopeClient(host, self._read_token, scheme=scheme, **settings)

    def iter_window_pages(self, log_type: str, start: int | datetime, end: int | datetime) -> Iterator[RawPage]:
        """Records inserted in ``[start, end)`` page by page (see ``NetskopeClient.iter_window_pages``)."""
        return self.get_client().iter_window_pages(log_type, _epoch(start), _epoch(end))

    def count_window(self, log_type: str, start: int | datetime, end: int | datetime) -> int | None:
        return self.get_client().count_window(log_type, _epoch(start), _epoch(end))

    def test_connection(self) -> tuple[bool, str]:
        """One cheap real request; never raises (the UI shows the message)."""
        try:
            return True, self.get_client().probe()
        except NetskopeError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI must get a message, whatever failed
            return False, f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ token

    def _connection(self) -> Connection:
        return self.get_connection(self.netskope_conn_id)

    def _read_token(self, refresh: bool) -> str:
        """Token from the connection password, else from Secrets Manager; re-read both on ``refresh``."""
        conn = self._connection()
        if refresh:
            self.log.info("Re-reading the API token of connection %s after HTTP 401", self.netskope_conn_id)
        if conn.password:
            token = conn.password.strip()
            source = f"the password of connection {self.netskope_conn_id}"
        elif self.extras.get("secret_arn"):
            secret_arn = str(self.extras["secret_arn"])
            token = self._token_from_secret(secret_arn, self.extras.get("aws_conn_id"))
            source = f"Secrets Manager secret {secret_arn}"
        else:
            raise NetskopeConfigError(
                f"Connection {self.netskope_conn_id} has no API token: set its password to the service account's token, "
                "or its extra secret_arn to a Secrets Manager secret holding it."
            )
        mask_secret(token)
        check_token(token, source)
        return token

    def _token_from_secret(self, secret_arn: str, named_conn_id: object) -> str:
        """The secret's value, read in the region its ARN names unless the AWS connection names one."""
        from airflow.providers.amazon.aws.hooks.secrets_manager import SecretsManagerHook
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        aws_conn_id = str(named_conn_id or "aws_default")
        if named_conn_id:  # a connection the user named must exist; an absent aws_default means the worker's role
            try:
                self.get_connection(aws_conn_id)
            except AirflowNotFoundException:
                raise NetskopeConfigError(
                    f"There is no such connection {aws_conn_id!r} (the extra aws_conn_id of connection "
                    f"{self.netskope_conn_id}): create an AWS connection with that id, or remove the extra to use the "
                    "worker's own AWS credentials."
                ) from None
        try:
            with _aws_debug_logs_silenced():
                secrets = SecretsManagerHook(aws_conn_id=aws_conn_id)
                arn_region = _ARN_REGION.match(secret_arn)
                if arn_region and not secrets.conn_config.region_name:
                    secrets = SecretsManagerHook(aws_conn_id=aws_conn_id, region_name=arn_region.group(1))
                secret = secrets.get_secret(secret_arn)
        except Exception as exc:
            raise NetskopeConfigError(
                f"Could not read the API token from Secrets Manager secret {secret_arn} with AWS connection "
                f"{aws_conn_id} ({type(exc).__name__}); check the ARN and that the role may call "
                "secretsmanager:GetSecretValue."
            ) from None
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        secret = secret.strip()
        if secret.startswith("{"):
            try:
                token = orjson.loads(secret).get("api_token")
            except orjson.JSONDecodeError:
                token = None
            if not isinstance(token, str) or not token.strip():
                raise NetskopeConfigError(
                    f"Secrets Manager secret {secret_arn} holds JSON without a string key 'api_token': store the token "
                    'as {"api_token": "<token>"} or as the plain string.'
                )
            secret = token.strip()
        return secret


class _SilenceWhileReadingSecret(logging.Filter):
    """Drops log records emitted by the thread that is reading the token secret."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "active", False)


_silencer = _SilenceWhileReadingSecret()
for _name in _AWS_BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_silencer)


@contextmanager
def _aws_debug_logs_silenced() -> Iterator[None]:
    _silencer.local.active = True
    try:
        yield
    finally:
        _silencer.local.active = False


def _epoch(value: int | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"Window bound {value!r} has no time zone; pass an aware UTC datetime or epoch seconds.")
        seconds = value.timestamp()
        if seconds != int(seconds):
            raise ValueError(
                f"Window bound {value.isoformat()} is not a whole second; the API filters in whole seconds."
            )
        return int(seconds)
    return value
