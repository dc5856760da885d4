"""Checks of the client's transport options, so a bad setting fails at once with its name.

A CA bundle that is missing, a proxy that is not a URL or a timeout of ``"fast"`` would otherwise
surface only when the first request is sent, as an ``OSError`` or a transport error that the
retry loop (and then Airflow) would retry as if the network were at fault.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlsplit

from netskope_provider.exceptions import NetskopeConfigError

PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_SWITCHES = {"true", "false", "yes", "no", "on", "off", "0", "1", "none", "null"}


def ca_bundle(value: Any, name: str) -> str:
    """A readable CA bundle file (or a folder of hashed certificates), as requests' ``verify`` takes it."""
    if value is False or (isinstance(value, str) and value.strip().lower() in _SWITCHES):
        raise NetskopeConfigError(
            f"{name}={value!r} is not a path: TLS verification cannot be disabled. Set {name} to the path of "
            "the CA bundle (PEM) that signed the tenant's certificate (or your TLS-inspecting proxy's), or leave it "
            "unset to use the system's trusted CAs."
        )
    if not isinstance(value, str) or not value.strip():
        raise NetskopeConfigError(f"{name} must be the path of a CA bundle file (PEM), got {value!r}.")
    path = os.path.expanduser(value.strip())
    if not os.path.exists(path):
        raise NetskopeConfigError(
            f"{name} file {path} does not exist on this worker: copy the CA bundle (PEM) there, or correct the path."
        )
    if not os.access(path, os.R_OK):
        raise NetskopeConfigError(f"{name} file {path} is not readable by this worker's user: fix its permissions.")
    return path


def proxies(value: Any, name: str) -> dict[str, str]:
    """``{"https": url, ...}`` from a URL or a mapping; each URL needs a known scheme and a host."""
    if isinstance(value, str):
        value = {"https": value, "http": value}
    if not isinstance(value, dict) or not value:
        raise NetskopeConfigError(
            f'{name} must be a proxy URL or a mapping like {{"https": "http://proxy.example.com:3128"}}, got '
            f"{type(value).__name__}."
        )
    for key, url in value.items():
        if not isinstance(url, str):
            raise NetskopeConfigError(f"{name}[{key!r}] must be a proxy URL string, got {type(url).__name__}.")
        try:
            parts = urlsplit(url.strip())
            valid = parts.scheme.lower() in PROXY_SCHEMES and bool(parts.hostname) and parts.port != 0
        except ValueError:  # e.g. a port that is not a number
            valid = False
        if not valid:
            raise NetskopeConfigError(
                f"{name}[{key!r}] = {proxy_label(url)!r} is not a proxy URL: write scheme://host:port with a scheme "
                f"among {', '.join(PROXY_SCHEMES)}, e.g. http://proxy.example.com:3128."
            )
    return {key: url.strip() for key, url in value.items()}


def proxy_label(url: str) -> str:
    """A proxy URL without its user info (a password may be in it), for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<not a URL>"
    if not parts.scheme and not host:
        return "<not a URL>"
    return f"{parts.scheme}://{host}{port}"


def number(value: Any, kind: type, name: str, *, minimum: float = 0.0, exclusive: bool = False) -> Any:
    """``value`` as ``kind`` (int or float), finite and at least ``minimum`` (above it if ``exclusive``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        converted = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise NetskopeConfigError(f"{name} must be a {kind.__name__}, got {value!r}.") from None
    if kind is int and isinstance(value, float) and value != converted:
        raise NetskopeConfigError(f"{name} must be a whole number, got {value!r}.")
    if not math.isfinite(converted) or converted < minimum or (exclusive and converted == minimum):
        bound = f"greater than {minimum:g}" if exclusive else f"at least {minimum:g}"
        raise NetskopeConfigError(f"{name} must be a finite number {bound}, got {value!r}.")
    return converted


def timeout(value: Any, name: str) -> tuple[float, float]:
    """``(connect, read)`` seconds, both finite and positive."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise NetskopeConfigError(f"{name} must be (connect seconds, read seconds), got {value!r}.")
    connect, read = value
    return (
        number(connect, float, f"{name} (connect)", exclusive=True),
        number(read, float, f"{name} (read)", exclusive=True),
    )
