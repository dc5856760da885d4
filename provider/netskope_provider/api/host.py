"""Rules for the tenant host a connection may point at.

The API token is sent with every request, so the host decides who receives it: only a bare
``*.goskope.com`` host over HTTPS by default. Anything else needs an explicit opt-in, and plain
HTTP is only ever allowed to a loopback address (the local simulator).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from netskope_provider.exceptions import NetskopeConfigError

NETSKOPE_DOMAIN = "goskope.com"
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def check_tenant_host(host: str, *, scheme: str = "https", allow_non_goskope_host: bool = False) -> str:
    """Return ``host`` normalised to ``name[:port]``, or raise naming the rule it breaks.

    Accepts ``tenant.goskope.com``, regional ``tenant.eu.goskope.com``, and ``https://tenant.goskope.com``
    (the scheme is dropped). Rejects paths, user info, query strings and fragments, because they
    would silently change where requests (and the token) go.
    """
    raw = (host or "").strip()
    if not raw:
        raise NetskopeConfigError(
            "Tenant host is empty: set the connection host to your tenant, e.g. mytenant.goskope.com."
        )
    if scheme not in ("https", "http"):
        raise NetskopeConfigError(f"Unsupported scheme {scheme!r}: the Netskope API is reached over https.")

    rest = raw
    if "://" in raw:
        given, rest = raw.split("://", 1)
        if given.lower() != scheme:
            raise NetskopeConfigError(
                f"Tenant host {raw!r} starts with {given}://: give the bare hostname (e.g. mytenant.goskope.com); "
                "the client always uses HTTPS."
            )
    if "?" in rest or "#" in rest:
        raise NetskopeConfigError(
            f"Tenant host {raw!r} contains a query string or fragment: give only the hostname, e.g. mytenant.goskope.com."
        )
    try:
        parts = urlsplit("//" + rest)
    except ValueError:  # e.g. an unbalanced "[" of an IPv6 literal
        raise NetskopeConfigError(f"Tenant host {raw!r} is not a valid hostname, e.g. mytenant.goskope.com.") from None
    if "@" in parts.netloc:
        raise NetskopeConfigError(
            "Tenant host contains user info (user@host): remove it; the API token belongs in the connection password "
            "or in Secrets Manager."
        )
    if parts.path not in ("", "/"):
        raise NetskopeConfigError(
            f"Tenant host {raw!r} contains a path ({parts.path!r}): give only the hostname; the client adds /api/v2/... itself."
        )
    try:
        port = parts.port
    except ValueError:
        raise NetskopeConfigError(f"Tenant host {raw!r} has an invalid port.") from None
    hostname = (parts.hostname or "").lower()
    if not hostname or not (_DNS_NAME.match(hostname) or _is_ip(hostname)):
        raise NetskopeConfigError(f"Tenant host {raw!r} is not a valid hostname, e.g. mytenant.goskope.com.")

    if not hostname.endswith("." + NETSKOPE_DOMAIN) and not allow_non_goskope_host:
        raise NetskopeConfigError(
            f"Tenant host {hostname!r} is outside {NETSKOPE_DOMAIN}: use your tenant's *.{NETSKOPE_DOMAIN} host, or set "
            'the connection extra "allow_non_goskope_host": true for a private deployment or the local simulator.'
        )
    if scheme == "http" and not (allow_non_goskope_host and is_loopback(hostname)):
        raise NetskopeConfigError(
            f"Plain HTTP to {hostname!r} is refused: the token must travel over HTTPS. HTTP is only allowed to a "
            'loopback host (the local simulator) together with "allow_non_goskope_host": true.'
        )

    bracketed = f"[{hostname}]" if ":" in hostname else hostname
    return f"{bracketed}:{port}" if port is not None else bracketed


def _is_ip(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True
