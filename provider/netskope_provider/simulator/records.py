"""Deterministic, realistic Netskope records for every log type.

Why this shape: the simulator must serve a million records of one type quickly and without holding
them all in memory. So a corpus is two small integer arrays (insertion time and insertion delay per
record, sorted by insertion time) plus a pool of pre-serialised *templates* per log type. Record
``i`` is its template (chosen by a fixed stride, so any :data:`POOL_SIZE` consecutive records use
every template) with the per-record fields (``_id``, times, 64-bit ids) spliced in front of it as
JSON bytes. The first templates of each pool enumerate every value the user's spec lists (activity,
audit event, network action, alert type, ...), so a corpus of at least ``POOL_SIZE`` records covers
them all; the rest of the pool adds realistic noise: missing ``record_type``, stray spaces and
casing variants, ``""``/``0`` defaults, unlisted values.

Order is by ``_insertion_epoch_timestamp`` then ``_id``: ``_id`` is ObjectId-like (insertion time,
a per-corpus machine part, then the record's index), so both orders agree by construction.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import accumulate, cycle
from operator import sub
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from netskope_provider.log_types import LOG_TYPES
from netskope_provider.ocsf import routing

#: Templates per log type; a corpus of at least this many records uses every one of them.
POOL_SIZE = 256
#: Coprime with POOL_SIZE: spreads consecutive records over the pool.
_STRIDE = 97
#: ``_id`` carries the record index in 6 hex digits.
MAX_RECORDS = 16**6 - 1
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_ID_FLOOR = 1 << 60
_ID_MULTIPLIER = 0xD6E8FEB86659FD93

LOG_TYPE_NAMES: tuple[str, ...] = tuple(LOG_TYPES)
#: The field that holds when the tenant stored a record. Only ``data/*`` responses carry it in every
#: published sample; ``dataexport`` and ``datasearch`` records have ``timestamp`` alone.
INSERTION_TIME = "_insertion_epoch_timestamp"


class LagBand(NamedTuple):
    """A share of records inserted ``low`` to ``high`` seconds (``[low, high)``) after their event time."""

    share: float
    low: int
    high: int


def check_lag_bands(log_type: str, bands: Sequence[LagBand]) -> tuple[LagBand, ...]:
    """``bands`` as a tuple of :class:`LagBand`, or a ``ValueError`` that says what a valid mix is."""
    checked = []
    for band in bands:
        share, low, high = band
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low < high and share > 0):
            raise ValueError(
                f"insertion lag band {band!r} of {log_type} is invalid: pass LagBand(share > 0, low >= 0, "
                "high > low) with integer seconds, e.g. LagBand(0.9, 5, 60), LagBand(0.1, 3600, 21600)"
            )
        checked.append(LagBand(float(share), low, high))
    if not checked:
        raise ValueError(f"insertion lags of {log_type} need at least one LagBand(share, low, high)")
    return tuple(checked)


# --------------------------------------------------------------------------------------------------
# The spec's value lists (AWS "Source configuration for Netskope",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/netskope-source-setup.md): the
# lists the routing holds verbatim are used from there, so the generated corpus provably covers them.

APP_LOGIN_ACTIVITIES = ("Login Attempt", "Login Failed", "Login Successful", "Logout")
APP_OTHER_LOGIN_ACTIVITIES = ("SSO Login", "Login Blocked")
APP_FILE_ACTIVITIES = routing.FILE_HOSTING_ACTIVITIES
APP_UNLISTED_ACTIVITIES = ("Browse", "FormPost", "Introspection Scan", "Unknown")

AUDIT_AUTH_EVENTS = routing.AUDIT_AUTHENTICATION_EVENTS
AUDIT_ENTITY_EVENTS = routing.AUDIT_ENTITY_MANAGEMENT_EVENTS
AUDIT_ACCOUNT_EVENTS = routing.AUDIT_ACCOUNT_CHANGE_EVENTS
AUDIT_UNLISTED_EVENTS = (
    "Enabled REST API tokens",
    "Created new REST API token",
    "Revoked REST API token",
    "Exported report",
    "Updated steering configuration",
    "Created new DLP profile",
    "Added new user",
)

#: The spec's network actions in the mixed casing tenants send, then values the spec does not list.
NETWORK_LISTED_ACTIONS = ("allow", "Block", "bypass", "Closed", "idle timeout", "Proceed", "Allow", "block")
NETWORK_UNLISTED_ACTIONS = ("alert", "drop", "reset", "useralert")

#: Alert types as tenants spell them; the first group is listed in the spec.
ALERT_LISTED_TYPES = (
    "DLP",
    "dlp",
    "Malware",
    "malware",
    "Malsite",
    "malsite",
    "Policy",
    "policy",
    "Compromised Credential",
    "uba",
    "UBA",
    "C2",
)
ALERT_UNLISTED_TYPES = (
    "watchlist",
    "Security Assessment",
    "quarantine",
    "Remediation",
    "ctep",
    "anomaly",
    "Legal Hold",
    "device",
    "content",
    "ips",
)

INFRASTRUCTURE_METRICS = (
    ("cpu_usage", "gauge"),
    ("memory_usage", "gauge"),
    ("disk_usage", "gauge"),
    ("tunnel_status", "boolean"),
    ("service_status", "boolean"),
    ("bytes_in", "counter"),
    ("bytes_out", "counter"),
    ("session_count", "counter"),
)
ENDPOINT_SUBTYPES = ("SUBTYPE_DEVICE_CONTROL", "SUBTYPE_ENDPOINT_DLP", "SUBTYPE_EPDLP_PRINT", "SUBTYPE_USB_BLOCK")
#: The subtype of endpoint-DLP records (``record_type: epdlp``), served alone by ``datasearch/epdlp`` and
#: ``dataexport/events/epdlp``.
ENDPOINT_DLP = "epdlp"
_ENDPOINT_DLP_SUBTYPES = frozenset({"SUBTYPE_ENDPOINT_DLP", "SUBTYPE_EPDLP_PRINT"})

# --------------------------------------------------------------------------------------------------
# Realistic building blocks.

_USERS = (
    "john.doe@example.org",
    "jane.roe@example.org",
    "a.martin@example.com",
    "li.wei@example.net",
    "priya.k@example.org",
    "svc-backup@example.org",
    "m.garcia@example.com",
    "JDOE@example.com",
    "o.nowak@example.net",
    "student13",
)
_ADMINS = ("admin@example.org", "secops@example.org", "john.doe@example.org", "support@netskope.com")
# (app, appcategory, cci, ccl, appsuite, site, domain)
_APPS = (
    (
        "Microsoft Office 365 Sharepoint Online",
        "Collaboration",
        91,
        "excellent",
        "Office365",
        "Microsoft Office 365 Sharepoint Sites",
        "example.sharepoint.com",
    ),
    ("Google Drive", "Cloud Storage", 88, "high", "Google Workspace", "Google Drive", "drive.google.com"),
    ("Box", "Cloud Storage", 90, "excellent", "", "Box", "app.box.com"),
    ("Dropbox", "Cloud Storage", 72, "medium", "", "Dropbox", "www.dropbox.com"),
    ("WeTransfer", "Cloud Storage", 58, "low", "", "WeTransfer", "wetransfer.com"),
    ("Slack", "Collaboration", 80, "high", "", "Slack", "app.slack.com"),
    ("Salesforce", "CRM", 92, "excellent", "", "Salesforce", "example.my.salesforce.com"),
    ("LinkedIn", "Professional Networking", 68, "medium", "Linkedin App", "Linkedin", "www.linkedin.com"),
    ("GitHub", "Development Tools", 85, "high", "", "GitHub", "github.com"),
    ("ChatGPT", "Generative AI", 61, "medium", "", "ChatGPT", "chatgpt.com"),
)
# (country, location, region, lat, lon, timezone, zipcode)
_GEO = (
    ("US", "San Francisco", "California", 37.775699615478516, -122.39520263671875, "America/Los_Angeles", "94107"),
    ("US", "Redmond", "Washington", 47.6711, -122.1253, "America/Los_Angeles", "98073"),
    ("FR", "Rennes", "Brittany", 48.11, -1.6744, "Europe/Paris", "35000"),
    ("FR", "Paris", "Île-de-France", 48.8323, 2.4075, "Europe/Paris", "75018"),
    ("IE", "Dublin", "Leinster", 53.3379, -6.2591, "Europe/Dublin", "D02"),
    ("DE", "Frankfurt am Main", "Hesse", 50.1187, 8.6842, "Europe/Berlin", "60313"),
    ("JP", "Tokyo", "Tokyo", 35.6895, 139.6917, "Asia/Tokyo", "100-0001"),
    ("IN", "Bengaluru", "Karnataka", 12.9716, 77.5946, "Asia/Kolkata", "560001"),
)
_POPS = ("US-SFO1", "US-SEA2", "FR-PAR1", "FR-PAR2", "IE-DUB1", "DE-FRA1", "JP-TYO1", "IN-BLR1")
# (device, os, os_version, browser, browser_version, useragent)
_DEVICES = (
    (
        "Windows Device",
        "Windows 11",
        "Windows NT 11.0",
        "Chrome",
        "131.0.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "Windows Device",
        "Windows 10",
        "Windows NT 10.0",
        "Edge",
        "108.0.1462.54",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 Edg/108.0.1462.54",
    ),
    (
        "Mac Device",
        "Sonoma",
        "14.4",
        "Safari",
        "17.4",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    ),
    ("iPhone", "iOS", "17.2", "Native", "", "Dropbox/345.4 (iPhone; iOS 17.2)"),
    (
        "Windows Device",
        "Windows 11",
        "Windows NT 11.0",
        "Firefox",
        "108.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:108.0) Gecko/20100101 Firefox/108.0",
    ),
)
_ACCESS_METHODS = ("Client", "Client", "Client", "Reverse Proxy", "Secure Forwarder", "GRE", "IPSec", "API Connector")
_FILES = (
    ("Q3-forecast.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 48213),
    ("contract_signed.pdf", "application/pdf", 223458),
    ("giphy2.gif", "image/gif", 204299),
    ("customers.csv", "text/csv", 1893221),
    ("design.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 77120),
    ("setup.exe", "application/x-msdownload", 5242880),
)
_POLICIES = (
    "Allow sanctioned cloud storage",
    "Coach user on unsanctioned storage",
    "Block DoH - incompatibility with Netskope",
    "DO NOT CHANGE Educate Upload to Non-Corporate Storage",
    "Security Risk",
    "[DLP] Block sensitive files on Cloud Storage",
)
_DLP_PROFILES = (
    ("DLP-PII", "Name-Medical Condition", "Low"),
    ("DLP-PCI", "Credit Card Number", "High"),
    ("ML-TYOC-QRCode", "QRCode", "Medium"),
    ("[MIP] No label applied", "No label applied", "Medium"),
    ("DLP-Source-Code", "Source code", "Critical"),
)
_SEVERITIES = ("unknown", "low", "Low", "medium", "Medium", "high", "High", "critical", "informational")
_HEX = "0123456789abcdef"

#: Fields real application/alert records carry as empty-string / zero defaults.
_EMPTY_DEFAULTS: dict[str, Any] = {
    "CononicalName": "",
    "sAMAccountName": "",
    "userPrincipalName": "",
    "audit_category": "",
    "audit_type": "",
    "channel_id": "",
    "custom_connector": "",
    "data_center": "",
    "dlp_fail_reason": "",
    "dlp_mail_parent_id": "",
    "dlp_scan_failed": "",
    "exposure": "",
    "from_user_category": "",
    "fromlogs": "",
    "justification_reason": "",
    "justification_type": "",
    "log_file_name": "",
    "loginurl": "",
    "managementID": "",
    "netskope_activity": "",
    "org": "",
    "orignal_file_path": "",
    "owner": "",
    "parent_id": "",
    "retro_scan_name": "",
    "sanctioned_instance": "",
    "serial": "",
    "sessionid": "",
    "shared_with": "",
    "suppression_key": "",
    "telemetry_app": "",
    "tss_fail_reason": "",
    "tss_scan_failed": "",
    "universal_connector": "",
    "user_category": "",
    "web_universal_connector": "",
    "workspace": "",
    "workspace_id": "",
    "internal_collaborator_count": 0,
    "total_collaborator_count": 0,
    "modified": 0,
    "req_cnt": 0,
    "resp_cnt": 0,
    "suppression_start_time": 0,
    "suppression_end_time": 0,
    "user_confidence_index": 0,
    "ext_labels": [],
    "smtp_to": [],
    "custom_attr": {},
}


def _hexstr(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_HEX) for _ in range(n))


def _ip(rng: random.Random, private: bool = False) -> str:
    if private:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"{rng.choice((34, 52, 104, 142, 172, 185, 203))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _vary(rng: random.Random, value: str) -> str:
    """Stray whitespace or a casing variant, as a small share of real records carry."""
    roll = rng.random()
    if roll < 0.04:
        return f" {value}"
    if roll < 0.08:
        return f"{value} "
    if roll < 0.12:
        return value.lower()
    return value


def _geo(prefix: str, rng: random.Random) -> dict[str, Any]:
    country, location, region, lat, lon, tz, zipcode = rng.choice(_GEO)
    return {
        f"{prefix}_country": country,
        f"{prefix}_location": location,
        f"{prefix}_region": region,
        f"{prefix}_latitude": lat,
        f"{prefix}_longitude": lon,
        f"{prefix}_timezone": tz,
        f"{prefix}_zipcode": zipcode,
        f"{prefix}_geoip_src": rng.choice((0, 1, 2)),
    }


def _web_base(rng: random.Random, access_method: str | None = None) -> dict[str, Any]:
    """Fields every steering record (application, page, alert) shares."""
    app, appcategory, cci, ccl, appsuite, site, domain = rng.choice(_APPS)
    device, os_name, os_version, browser, browser_version, useragent = rng.choice(_DEVICES)
    user = rng.choice(_USERS)
    record: dict[str, Any] = {
        "access_method": access_method or rng.choice(_ACCESS_METHODS),
        "app": app,
        "appcategory": appcategory,
        "appsuite": appsuite,
        "category": appcategory,
        "cci": cci,
        "ccl": ccl,
        "site": site,
        "page_site": site,
        "domain": domain,
        "page": domain,
        "url": f"{domain}/{rng.choice(('', 'files/', 'api/v2/items', 'sites/mysite/_layouts/0/download.aspx'))}",
        "referer": f"https://{domain}/",
        "protocol": rng.choice(("HTTPS/1.1", "HTTPS/2", "HTTP/1.1")),
        "user": user,
        "userkey": user,
        "ur_normalized": user.lower(),
        "from_user": user,
        "to_user": "",
        "srcip": _ip(rng),
        "userip": _ip(rng, private=True),
        "dstip": _ip(rng),
        "dstport": rng.choice((443, 443, 80)),
        "device": device,
        "os": os_name,
        "os_version": os_version,
        "browser": browser,
        "browser_version": browser_version,
        "useragent": useragent,
        "hostname": f"{rng.choice(('PC', 'LT', 'MAC'))}-{_hexstr(rng, 6).upper()}",
        "device_classification": rng.choice(("managed", "unmanaged", "")),
        "nsdeviceuid": rng.choice(
            ("", f"{_hexstr(rng, 8)}-{_hexstr(rng, 4)}-{_hexstr(rng, 4)}-{_hexstr(rng, 4)}-{_hexstr(rng, 12)}")
        ),
        "netskope_pop": rng.choice(_POPS),
        "traffic_type": rng.choice(("CloudApp", "CloudApp", "Web")),
        "other_categories": rng.choice(([], ["All Internet", appcategory], [appcategory])),
        "organization_unit": rng.choice(("", "example.org/Corp/Users/Engineering")),
        "policy": rng.choice(_POLICIES),
        "policy_id": f"{_hexstr(rng, 32).upper()} 2024-10-30 13:52:18.401518",
        "severity": rng.choice(_SEVERITIES),
        "count": 1,
        "managed_app": rng.choice(("yes", "no")),
        "instance_id": rng.choice(("", "example.org")),
        "tss_mode": rng.choice(("inline", "")),
        "ja3": _hexstr(rng, 32),
        "ja3s": "NotAvailable",
    }
    record.update(_geo("src", rng))
    record.update(_geo("dst", rng))
    return record


def _file_fields(rng: random.Random) -> dict[str, Any]:
    name, mime, size = rng.choice(_FILES)
    return {
        "object": name,
        "object_type": "File",
        "file_type": mime,
        "file_size": size,
        "mime_type": mime,
        "md5": _hexstr(rng, 32),
        "sha256": _hexstr(rng, 64),
        "title": name,
        "file_path": rng.choice(("", f"/Shared/{name}")),
        "true_obj_type": rng.choice(("Adobe Portable Document Format (PDF)", "Microsoft Excel", "Plain Text file")),
        "true_obj_category": rng.choice(("Word Processor", "Spreadsheet", "Text")),
        "file_lang": rng.choice(("ENGLISH", "Unknown", "")),
    }


def _empty_file_fields() -> dict[str, Any]:
    return {
        "object": "",
        "object_type": "",
        "file_type": "",
        "file_size": 0,
        "mime_type": "",
        "md5": "",
        "sha256": "",
        "title": "",
        "file_path": "",
        "true_obj_type": "",
        "true_obj_category": "",
        "file_lang": "",
    }


def _dlp_fields(rng: random.Random) -> dict[str, Any]:
    profile, rule, severity = rng.choice(_DLP_PROFILES)
    return {
        "dlp_profile": profile,
        "dlp_rule": rule,
        "dlp_rule_severity": severity,
        "dlp_rule_count": rng.randint(1, 12),
        "dlp_is_unique_count": rng.choice(("true", "false")),
        "dlp_unique_count": rng.randint(0, 5),
        "dlp_file": rng.choice(_FILES)[0],
    }


def _src_seconds(rng: random.Random) -> int:
    """The seconds a template's ``src_time`` shows: the published records show :00 (5 of 9), :08 (3)
    and the record's own (1), always in ``timestamp``'s minute (SEKOIA application, page and alert records)."""
    return rng.choice((0, 8, 0, 8, -1))


def _maybe_drop_record_type(rng: random.Random, record: dict[str, Any], value: str, keep: float) -> None:
    """Real tenants omit ``record_type`` on a share of records."""
    if rng.random() < keep:
        record["record_type"] = value


# --------------------------------------------------------------------------------------------------
# Templates per log type. ``k`` is the template number: the first ones walk the coverage lists.

#: Per-record fields each template kind adds after ``_id``, ``timestamp``, ``_insertion_epoch_timestamp`` and its ids.
_EXTRA_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "": (),
    "src_time": (("src_time", '"%s"'),),
    "page": (("conn_starttime", "%d"), ("conn_endtime", "%d"), ("src_time", '"%s"')),
    "network": (("network_session_id", '"%s"'), ("tunnel_id", '"%s"'), ("start_time", '"%s"'), ("end_time", '"%s"')),
    "incident": (("dlp_incident_id", "%d"), ("dlp_parent_id", "%d"), ("incident_id", "%d")),
}


@dataclass(frozen=True)
class Template:
    """One pre-serialised record body plus how to write the per-record fields in front of it."""

    body: bytes  #: JSON object bytes without the leading ``{`` (starts with the first key)
    fields: dict[str, Any]  #: the body, parsed once (records copy it)
    mutable: tuple[tuple[str, bytes], ...]  #: list/dict fields as JSON, parsed afresh per record
    delay: tuple[int, int]  #: insertion delay range in seconds, [lo, hi)
    id_fields: tuple[str, ...]  #: 64-bit id fields (> 2**53) drawn per record
    id_salts: tuple[int, ...]  #: one ``_big_id`` salt per id field
    subtype: str  #: normalised alert type, ``epdlp`` for endpoint DLP, "" otherwise
    id_hex: int  #: ``_id`` length
    extra: str  #: which per-record fields follow the ids (a key of ``_EXTRA_FIELDS``)
    duration: int  #: page events: connection duration in seconds
    src_zone: str  #: ``src_timezone``, the zone ``src_time`` is written in
    src_seconds: int  #: the seconds ``src_time`` shows (-1: the record's own, as ``timestamp``)
    head_names: tuple[str, ...]  #: names of the per-record fields, in order
    head_format: str  #: ``%`` format of the per-record fields as JSON members, ending with ","
    head_format_bare: str  #: the same without ``_insertion_epoch_timestamp`` (the third per-record field)
    match: bytes  #: incidents: ``dlp_match_info[0]`` as JSON without ``{``, after the forensic id ("" otherwise)


def _make_template(record: dict[str, Any], meta: dict[str, Any]) -> Template:
    for name in meta["zero"]:
        record[name] = 0  # real tenants send 0 for an id they do not have
    ids = tuple(name for name in meta["ids"] if name not in meta["zero"])
    extra = meta["extra"]
    members = [("_id", '"%s"'), ("timestamp", "%d"), ("_insertion_epoch_timestamp", "%d")]
    members += [(name, "%d") for name in ids] + list(_EXTRA_FIELDS[extra])
    head_format = "{" + "".join(f'"{name}":{spec},' for name, spec in members)
    head_format_bare = "{" + "".join(f'"{name}":{spec},' for name, spec in members if name != INSERTION_TIME)
    match = b""
    if extra == "incident":
        match = orjson.dumps(meta["match"])[1:]
        head_format += '"dlp_match_info":[{"dlp_forensic_id":%d,%s],'
        head_format_bare += '"dlp_match_info":[{"dlp_forensic_id":%d,%s],'
    body = orjson.dumps(record)
    fields = orjson.loads(body)
    return Template(
        body=body[1:],
        fields=fields,
        mutable=tuple((name, orjson.dumps(value)) for name, value in fields.items() if isinstance(value, (list, dict))),
        delay=meta["delay"],
        id_fields=ids,
        id_salts=tuple(n * _GOLDEN for n in range(1, len(ids) + 1)),
        subtype=meta.get("subtype", ""),
        id_hex=meta.get("id_hex", 24),
        extra=extra,
        duration=meta.get("duration", 0),
        src_zone=str(record.get("src_timezone", "")),
        src_seconds=meta.get("src_seconds", -1),
        head_names=tuple(name for name, _ in members),
        head_format=head_format,
        head_format_bare=head_format_bare,
        match=match,
    )


def _pick_coverage(k: int, values: tuple[Any, ...], rng: random.Random, fallback: tuple[Any, ...]) -> tuple[Any, bool]:
    """Template ``k`` takes coverage value ``k`` while there are any, then a random fallback value."""
    if k < len(values):
        return values[k], True
    return rng.choice(fallback), False


def _application(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    file_acts = APP_FILE_ACTIVITIES
    login_acts = APP_LOGIN_ACTIVITIES + APP_OTHER_LOGIN_ACTIVITIES
    coverage = [(a, "no") for a in file_acts] + [(a, "yes") for a in file_acts] + [(a, "no") for a in login_acts]
    coverage += [(a, "yes") for a in APP_LOGIN_ACTIVITIES[:2]] + [(a, "no") for a in APP_UNLISTED_ACTIVITIES]
    pool = [(a, "no") for a in file_acts + login_acts + APP_UNLISTED_ACTIVITIES] + [(a, "yes") for a in file_acts[:8]]
    (activity, alert), covered = _pick_coverage(k, tuple(coverage), rng, tuple(pool))
    api = rng.random() < 0.12
    rec = _web_base(rng, "API Connector" if api else None)
    rec["type"] = "nspolicy"
    _maybe_drop_record_type(rng, rec, "application", 0.75)
    rec["activity"] = activity if covered else _vary(rng, activity)
    rec["alert"] = alert
    is_login = "log" in activity.lower()
    rec["action"] = (
        rng.choice(("allow", "block", "useralert", "")) if alert == "yes" else rng.choice(("allow", "", "bypass"))
    )
    rec.update(_empty_file_fields() if is_login else _file_fields(rng))
    rec["ns_activity"] = activity.split(" ")[0] if not is_login else activity
    if alert == "yes":
        alert_type = rng.choice(("DLP", "policy", "Malware", "uba"))
        rec.update(alert_type=alert_type, alert_name=f"{alert_type} {activity}", acked="false")
        if alert_type == "DLP":
            rec.update(_dlp_fields(rng))
    else:
        rec["alert_type"] = ""
    if is_login:
        rec["logintype"] = rng.choice(("", "SAML", "OAuth"))
        rec["loginurl"] = f"https://{rec['domain']}/login"
    # The published application records (SEKOIA test_nspolicy_*, test_user_alert, test_dlp_alert) carry
    # these twelve, as "" and 0 except a notification page on block/useralert and a MIME type on an upload.
    notify = {"block": "silent_block.html", "useralert": "useralert_justify.html"}.get(rec["action"], "")
    rec.update(
        app_activity="",
        client_bytes=0,
        server_bytes=0,
        numbytes=0,
        conn_duration=0,
        dsthost="",
        instance="",
        object_id="",
        user_id="",
        data_type=rec["mime_type"] if "upload" in activity.lower() and rng.random() < 0.5 else "",
        notify_template=notify if rng.random() < 0.7 else "",
        scan_type="",
    )
    for key, value in _EMPTY_DEFAULTS.items():
        rec.setdefault(key, value)
    meta: dict[str, Any] = {
        "delay": (600, 14400) if api else (2, 120),
        "zero": ("connection_id",) if rng.random() < 0.3 else (),
    }
    meta["ids"] = ("connection_id", "transaction_id", "request_id", "app_session_id", "browser_session_id")
    if alert == "yes" and rec["alert_type"] == "DLP":
        meta["ids"] += ("dlp_incident_id", "dlp_parent_id")
    else:
        meta["zero"] += ("dlp_incident_id", "dlp_parent_id")
    meta["subtype"] = normalise_alert_type(rec["alert_type"])
    meta["extra"] = "src_time"
    meta["src_seconds"] = _src_seconds(rng)
    return rec, meta


def _page(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    rec = _web_base(rng)
    rec["type"] = "connection"  # and no ``record_type``, as the published page record (SEKOIA test_connection_log)
    duration = rng.randint(1, 900)
    rec.update(
        conn_duration=duration,
        client_bytes=rng.randint(0, 90000),
        server_bytes=rng.randint(0, 900000),
        numbytes=0,
        http_transaction_count=rng.randint(0, 40),
        req_cnt=rng.randint(0, 40),
        resp_cnt=rng.randint(0, 40),
        bypass_traffic=rng.choice(("yes", "no")),
        bypass_reason=rng.choice(("", "SSL Do Not Decrypt Bypass Policy Matched")),
        ssl_decrypt_policy=rng.choice(("yes", "no")),
        user_generated=rng.choice(("yes", "no")),
        dsthost="",
        fromlogs="",
        log_file_name="",
        resp_content_len=0,
        resp_content_type="",
    )
    rec["numbytes"] = rec["client_bytes"] + rec["server_bytes"]
    meta = {
        "delay": (5, 3900),  # after the record's time, which is 1 s after the connection ended
        "ids": ("connection_id", "request_id", "transaction_id", "app_session_id", "browser_session_id"),
        "zero": ("transaction_id",) if rng.random() < 0.5 else (),
        "extra": "page",
        "duration": duration,
        "src_seconds": _src_seconds(rng),
    }
    return rec, meta


def _network(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    action, covered = _pick_coverage(
        k, NETWORK_LISTED_ACTIONS + NETWORK_UNLISTED_ACTIONS, rng, NETWORK_LISTED_ACTIONS * 3 + NETWORK_UNLISTED_ACTIONS
    )
    user = rng.choice(_USERS)
    npa = rng.random() < 0.5
    client_bytes, server_bytes = rng.randint(0, 50000), rng.randint(0, 500000)
    client_packets, server_packets = rng.randint(1, 400), rng.randint(1, 400)
    port = rng.choice((443, 22, 3389, 53, 8443))
    rec: dict[str, Any] = {
        "access_method": rng.choice(("Client", "IPSec", "GRE")),
        "action": action if covered else _vary(rng, action),
        "app": rng.choice(("[PUG]", "[AI]", "[ZTNA] Jira", "SSH", "RDP", "DNS")),
        "appcategory": "n/a",
        "category": "n/a",
        "cci": 0,
        "ccl": "unknown",
        "client_bytes": client_bytes,
        "server_bytes": server_bytes,
        "numbytes": client_bytes + server_bytes,
        "client_packets": client_packets,
        "server_packets": server_packets,
        "total_packets": client_packets + server_packets,
        "count": 1,
        "device": "Windows",
        "os": "Windows",
        "os_version": "11.0.22631",
        "hostname": f"LT-{_hexstr(rng, 6).upper()}",
        "dsthost": _ip(rng, private=True) if npa else "",
        "dstip": "" if npa else _ip(rng),
        "dstport": port,
        "srcip": "" if npa else _ip(rng, private=True),
        "srcport": rng.randint(1025, 65535),
        "ip_protocol": "UDP" if port == 53 else "TCP",
        "protocol": rng.choice(("Http", "TCP", "SSH", "DNS")),
        "protocol_port": f"{'UDP' if port == 53 else 'TCP'}:{port}",
        "num_sessions": 1,
        "publisher_cn": str(rng.randint(100000, 999999)) if npa else "",
        "publisher_name": "XYZ123" if npa else "",
        "policy": rng.choice(("POLICY_NAME", "[ZTNA]AI_Prod", "Default Firewall Allow", "Block Telnet")),
        "session_duration": rng.randint(1000, 400000),
        "traffic_type": "PrivateApp" if npa else "Firewall",
        "tunnel_type": "NPA" if npa else rng.choice(("GRE", "IPSec")),
        "tunnel_up_time": rng.randint(1000, 400000),
        "type": "network",
        "user": user,
        "userkey": user,
        "ur_normalized": user.lower(),
        "userip": "" if npa else _ip(rng, private=True),
        "organization_unit": "",
        "domain": "",
        "domain_ip": "",
        "qdomain": "",
        "smtp_client_domain": "",
        "smtp_block_reason": "",
        "flow_status": "",
        "sAMAccountName": "",
        "userPrincipalName": "",
        "custom_attr": {},
    }
    rec.update(
        _geo("src", rng)
        if not npa
        else {
            "src_country": "",
            "src_location": "",
            "src_region": "",
            "src_latitude": 0.0,
            "src_longitude": 0.0,
            "src_zipcode": "",
            "src_geoip_src": 0,
        }
    )
    rec.update(_geo("dst", rng))
    _maybe_drop_record_type(rng, rec, "network", 0.8)
    meta = {"delay": (2, 60), "ids": (), "zero": (), "extra": "network"}
    return rec, meta


def _infrastructure(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    metric, metric_type = INFRASTRUCTURE_METRICS[k % len(INFRASTRUCTURE_METRICS)]
    boolean = metric_type == "boolean"
    rec: dict[str, Any] = {
        "hostname": f"{rng.choice(('pub', 'gw', 'ipsec', 'dp'))}-{rng.choice(('sfo', 'par', 'fra'))}-{rng.randint(1, 9):02d}",
        "serial": _hexstr(rng, 12).upper(),
        "metric_name": metric,
        "metric_type": metric_type,
        "metric_value": 0 if boolean else rng.randint(0, 100),
        "boolean_metric_value": rng.choice((True, False)) if boolean else False,
        "count_metric_value": rng.randint(0, 10**6) if metric_type == "counter" else 0,
        "metric_true_count": rng.randint(0, 60) if boolean else 0,
        "package_version": rng.choice(("120.1.0.1234", "118.0.2.998", "")),
        "device_name": rng.choice(("Publisher SFO", "Branch GW Paris", "")),
        "alarm_name": rng.choice(("", "", "High CPU", "Tunnel down")),
        "alarm_description": "",
        "type": "infrastructure",
    }
    _maybe_drop_record_type(rng, rec, "infrastructure", 0.85)
    return rec, {"delay": (5, 300), "ids": (), "zero": (), "extra": ""}


_AUDIT_SUPPORTING = {
    "user": lambda rng: {"data_type": "user", "data_values": [_ip(rng), rng.choice(_ADMINS)]},
    "admin": lambda rng: {"data_type": "admin", "data_values": [rng.choice(_ADMINS)]},
    "policy": lambda rng: {"data_type": "policy", "data_values": [rng.choice((False, "Block uploads", "Allow all"))]},
    "reason": lambda rng: {"data_type": "reason", "data_values": ["Logged out due to inactivity"]},
    "hostname": lambda rng: {"data_type": "hostname", "data_values": [f"pub-{rng.randint(1, 9)}.example.org"]},
}


def _audit(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    coverage = AUDIT_AUTH_EVENTS + AUDIT_ENTITY_EVENTS + AUDIT_ACCOUNT_EVENTS + AUDIT_UNLISTED_EVENTS
    event, covered = _pick_coverage(k, coverage, rng, coverage)
    lowered = event.lower()
    if "login" in lowered or "logout" in lowered or "logged out" in lowered or "password" in lowered:
        kind = "reason" if "logout" in lowered or "logged out" in lowered else "user"
    elif "admin" in lowered:
        kind = "admin"
    elif "tunnel" in lowered:
        kind = "hostname"
    else:
        kind = "policy"
    user = rng.choice(_ADMINS + ("student13",))
    rec: dict[str, Any] = {
        "type": "admin_audit_logs",
        "user": user,
        "severity_level": rng.choice((1, 2)),
        "audit_log_event": event if covered else _vary(rng, event),
        "supporting_data": _AUDIT_SUPPORTING[kind](rng),
        "organization_unit": "",
        "ur_normalized": user.lower(),
        "ccl": "unknown",
        "count": 1,
        "userPrincipalName": "",
        "sAMAccountName": "",
    }
    # No ``record_type``: none of the six published audit records (SEKOIA test_audit_log_*) has one.
    return rec, {"delay": (30, 900), "ids": (), "zero": (), "extra": "", "id_hex": 32}


def normalise_alert_type(value: str) -> str:
    """``Compromised Credential`` -> ``compromisedcredential``: the form the ``type=`` filter uses."""
    return "".join(value.split()).lower()


def _alert(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    alert_type, covered = _pick_coverage(
        k, ALERT_LISTED_TYPES + ALERT_UNLISTED_TYPES, rng, ALERT_LISTED_TYPES * 3 + ALERT_UNLISTED_TYPES
    )
    subtype = normalise_alert_type(alert_type)
    rec = _web_base(rng)
    rec.update(
        alert="yes", alert_type=alert_type if covered else _vary(rng, alert_type), acked=rng.choice(("false", "true"))
    )
    rec["alert_name"] = f"{alert_type} alert {k}"
    rec["alert_id"] = _hexstr(rng, 32)
    rec["activity"] = rng.choice(("Upload", "Download", "Share", "Browse", "Login Successful"))
    rec["action"] = rng.choice(("block", "alert", "useralert", "allow", "Detection"))
    rec["type"] = {"malsite": "malsite", "compromisedcredential": "breach", "uba": "anomaly", "anomaly": "anomaly"}.get(
        subtype, rng.choice(("nspolicy", "connection"))
    )
    _maybe_drop_record_type(rng, rec, "alert", 0.6)
    rec.update(_file_fields(rng) if subtype in ("dlp", "malware", "quarantine", "content") else _empty_file_fields())
    ids = ["connection_id", "transaction_id", "request_id", "app_session_id", "browser_session_id"]
    zero = ["dlp_incident_id", "dlp_parent_id"]
    if subtype == "dlp":
        rec.update(_dlp_fields(rng))
        ids += ["dlp_incident_id", "dlp_parent_id"]
        zero = []
    elif subtype == "malware":
        rec.update(
            malware_name=rng.choice(("EICAR-Test-File", "Trojan.GenericKD.4616", "W97M.Downloader")),
            malware_type=rng.choice(("Virus", "Trojan", "Macro")),
            malware_id=_hexstr(rng, 32),
            malware_severity=rng.choice(("high", "medium", "low")),
            malware_profile="Default Malware Scan",
            detection_engine=rng.choice(("Netskope Static Engine", "Netskope Sandbox")),
            severity_id=rng.randint(1, 4),
            local_md5=_hexstr(rng, 32),
            local_sha256=_hexstr(rng, 64),
            filename=rec["object"],
        )
    elif subtype == "malsite":
        ip = _ip(rng)
        rec.update(
            malicious="yes",
            malsite_category=["Malicious Site"],
            malsite_id=_hexstr(rng, 24),
            malsite_ip_host=ip,
            malsite_country="DE",
            severity_level=rng.choice(("high", "med", "low")),
            severity_level_id=rng.randint(0, 2),
            threat_match_field="domain",
            threat_match_value=ip,
            threat_source_id=1,
        )
        ids.append("incident_id")
    elif subtype == "compromisedcredential":
        rec.update(
            breach_id=_hexstr(rng, 24),
            breach_date=rng.randint(1_500_000_000, 1_700_000_000),
            breach_score=rng.randint(1, 100),
            breach_description="Credentials found in a public paste",
            matched_username=rec["user"],
            email_source=rng.choice(("pastebin", "darkweb")),
        )
    elif subtype in ("uba", "anomaly"):
        rec.update(
            risk_level=rng.choice(("low", "medium", "high")),
            risk_level_id=rng.randint(0, 3),
            score=rng.randint(1, 100),
            event_type=rng.choice(("rare_event", "risky_country", "data_exfiltration", "sequence")),
            anomaly_type=rng.choice(("rare", "bulk", "shared_credentials")),
            threshold=rng.randint(1, 50),
        )
    elif subtype in ("c2", "ips", "ctep"):
        rec.update(
            signature=rng.choice(("ET MALWARE Cobalt Strike Beacon", "ET TROJAN Generic C2")),
            signature_id=rng.randint(2_000_000, 2_999_999),
            gid=1,
            http_method=rng.choice(("GET", "POST")),
            http_port=443,
            profile_id=_hexstr(rng, 16),
            home_pop=rng.choice(_POPS),
        )
        ids.append("incident_id")
    elif subtype == "device":
        rec.update(device_type="USB Storage", vendor_id="0781", product_id="5581")
    for key, value in _EMPTY_DEFAULTS.items():
        rec.setdefault(key, value)
    delay = (600, 1800) if subtype in ("uba", "anomaly", "compromisedcredential") else (5, 600)
    meta = {
        "delay": delay,
        "ids": tuple(ids),
        "zero": tuple(zero),
        "subtype": subtype,
        "extra": "src_time",
        "src_seconds": _src_seconds(rng),
    }
    return rec, meta


def _incident(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    app, appcategory, _cci, _ccl, _suite, site, domain = rng.choice(_APPS)
    user = rng.choice(_USERS)
    rec: dict[str, Any] = {
        "access_method": rng.choice(("Client", "API Connector", "Reverse Proxy")),
        "acting_user": user,
        "activity": rng.choice(("Upload", "Download", "Share", "Post")),
        "app": app,
        "assignee": rng.choice(("None", "secops@example.org")),
        "destination_app": rng.choice(("", "aws")),
        "destination_instance_id": "",
        "src_location": rng.choice(_GEO)[1],
        "dst_location": rng.choice(_GEO)[1],
        "ext_labels": [],
        "from_user": user,
        "instance_id": rng.choice(("", "example.org")),
        "object_id": f"hash_{user}_{_hexstr(rng, 32)}",
        "referer": f"https://{domain}/",
        "severity": rng.choice(("Low", "Medium", "High", "Critical")),
        "site": site,
        "status": rng.choice(("new", "new", "in_progress", "resolved")),
        "url": f"https://{domain}/upload",
        "user": user,
        "user_id": rng.choice(("", user)),
        "appcategory": appcategory,
        "exposure": "",
        "owner": "",
        "latest_incident_id": 0,
        "instance": "",
        "inline_dlp_match_info": [],
        "original_file_snapshot_id": "",
        "bcc": "",
        "cc": "",
        "to_user": "",
        "classification": "",
        "owner_pdl": "",
        "channel": "",
    }
    rec.update(_file_fields(rng))
    if k == 0 or rng.random() < 0.7:
        rec["record_type"] = "incident"
    profile, rule, severity = rng.choice(_DLP_PROFILES)
    meta = {
        "delay": (60, 7200),
        "ids": ("app_session_id", "connection_id"),
        "zero": (),
        "extra": "incident",
        "id_hex": 64,
        "match": {
            "dlp_action": rng.choice(("alert", "useralert", "block")),
            "dlp_policy": rng.choice(_POLICIES),
            "dlp_profile_name": profile,
            "dlp_rules": [
                {
                    "dlp_incident_rule_count": rng.randint(1, 9),
                    "dlp_rule_name": rule,
                    "dlp_rule_severity": severity,
                    "dlp_rule_score": rng.randint(1, 20),
                    "dlp_data_identifiers": {"persons/proper_names/us/last": rng.randint(1, 9)},
                    "is_unique_count": False,
                    "weighted": False,
                }
            ],
        },
    }
    return rec, meta


def _endpoint(k: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    sub_type, _ = _pick_coverage(k, ENDPOINT_SUBTYPES, rng, ENDPOINT_SUBTYPES + ("SUBTYPE_ENDPOINT_DLP",) * 2)
    user = rng.choice(_USERS)
    name, mime, size = rng.choice(_FILES)
    dlp = sub_type in _ENDPOINT_DLP_SUBTYPES
    rec: dict[str, Any] = {
        "access_method": "Endpoint",
        "type": "endpoint",
        "sub_type": sub_type,
        "user": user,
        "userkey": user,
        "ur_normalized": user.lower(),
        "hostname": f"LT-{_hexstr(rng, 6).upper()}",
        "os": rng.choice(("Windows 11", "macOS 14")),
        "device_type": rng.choice(("USB Storage", "Printer", "Bluetooth")),
        "vendor_id": rng.choice(("0781", "04e8", "")),
        "product_id": rng.choice(("5581", "61f5", "")),
        "device_sn": _hexstr(rng, 16).upper(),
        "driver": rng.choice(("USBSTOR", "")),
        "process_name": rng.choice(("explorer.exe", "WINWORD.EXE", "Finder")),
        "process_path": rng.choice(("C:\\Windows\\explorer.exe", "/System/Library/CoreServices/Finder.app")),
        "executable_hash": _hexstr(rng, 64),
        "policy_action": rng.choice(("block", "allow", "alert", "Block")),
        "policy_name_enforced": rng.choice(("Block USB writes", "Endpoint DLP - PCI", "")),
        "source_file_name": name,
        "source_file_type": mime,
        "source_file_size": size,
        "destination_file_name": name,
        "destination_file_path": rng.choice(("E:\\", "/Volumes/USB/")),
        "file_size": size,
        "md5": _hexstr(rng, 32),
        "sha256": _hexstr(rng, 64),
        "action": rng.choice(("block", "allow", "alert")),
        "severity": rng.choice(("low", "medium", "high")),
        "nsdeviceuid": f"{_hexstr(rng, 8)}-{_hexstr(rng, 4)}-{_hexstr(rng, 4)}-{_hexstr(rng, 4)}-{_hexstr(rng, 12)}",
    }
    ids: tuple[str, ...]
    zero: tuple[str, ...]
    if dlp:
        rec.update(_dlp_fields(rng))
        rec["policy_name"] = rec["policy_name_enforced"] or "Endpoint DLP - PCI"
        if k < len(ENDPOINT_SUBTYPES) or rng.random() < 0.85:
            rec["record_type"] = "epdlp"
        ids, zero = ("dlp_incident_id",), ()
    else:
        # No ``record_type``: ``endpoint`` is not among NS-SCHEMA's values and no published record shows one.
        ids, zero = (), ("dlp_incident_id",)
    meta = {"delay": (10, 3600), "ids": ids, "zero": zero, "extra": "", "subtype": ENDPOINT_DLP if dlp else ""}
    return rec, meta


_BUILDERS: dict[str, Callable[[int, random.Random], tuple[dict[str, Any], dict[str, Any]]]] = {
    "application": _application,
    "page": _page,
    "network": _network,
    "infrastructure": _infrastructure,
    "audit": _audit,
    "incident": _incident,
    "endpoint": _endpoint,
    "alert": _alert,
}


def _check_log_type(log_type: str) -> str:
    if log_type not in _BUILDERS:
        raise ValueError(f"Unknown Netskope log type {log_type!r}; expected one of: {', '.join(LOG_TYPE_NAMES)}")
    return log_type


@lru_cache(maxsize=64)
def _pool(log_type: str, seed: int) -> tuple[Template, ...]:
    templates = []
    for k in range(POOL_SIZE):
        rng = random.Random(f"{seed}:{log_type}:template:{k}")
        templates.append(_make_template(*_BUILDERS[log_type](k, rng)))
    return tuple(templates)


# --------------------------------------------------------------------------------------------------
# Per-record randomness: SplitMix64 and one-multiply hashes, so record i needs no generator state.


def _mix(x: int) -> int:
    x = (x + _GOLDEN) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _big_id(h: int, salt: int) -> int:
    """A 63-bit id at or above 2**60 (so beyond 2**53), as Netskope's ids are; cheap: one multiply."""
    return (((h ^ (salt * _GOLDEN)) * _ID_MULTIPLIER) & _MASK64) >> 1 | _ID_FLOOR


@lru_cache(maxsize=65536)
def _ctime(ts: int) -> str:
    """``ts`` as ctime with a space-padded day ("Tue Jan  7 15:52:08 2025"); cached, many records share a second."""
    return time.asctime(time.gmtime(ts))


@lru_cache(maxsize=4096)
def _utc_offset(zone: str, hour: int) -> int:
    """Seconds east of UTC in ``zone`` during epoch hour ``hour`` (0 for "" or an unknown zone).

    By the hour: the zones the records use change their offset on whole UTC hours.
    """
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    offset = datetime.fromtimestamp(hour * 3600, tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _src_time(ts: int, template: Template) -> str:
    """``src_time`` as the published records write it: the user's local time (``src_timezone``),
    ``timestamp``'s minute with the template's seconds, ctime with a space-padded day."""
    seconds = template.src_seconds
    local = ts + _utc_offset(template.src_zone, ts // 3600)
    return _ctime(local if seconds < 0 else local - local % 60 + seconds)


@lru_cache(maxsize=65536)
def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def _sorted_uniform(rng: random.Random, count: int, start: int, end: int) -> array[int]:
    """``count`` uniform integers in ``[start, end)``, already sorted: cumulative exponential gaps, no sort.

    (Sorting a million draws took longer than drawing them.)
    """
    rand = rng.random
    gaps = [-math.log(1.0 - rand()) for _ in range(count + 1)]
    scale = (end - start) / math.fsum(gaps)
    last = end - 1
    return array("q", (min(start + int(position * scale), last) for position in accumulate(gaps[:-1])))


def _template_index(i: int) -> int:
    return (i * _STRIDE) % POOL_SIZE


class Corpus:
    """The generated records of one log type, sorted by insertion time, built lazily per record.

    ``lags`` replaces the templates' own insertion delays (evidence-based, see docs/simulator.md) by a
    mix of :class:`LagBand`: record ``i`` falls in a band with probability ``share`` (normalised)
    and lags uniformly within it.
    """

    def __init__(
        self, log_type: str, count: int, start: int, end: int, seed: int, lags: Sequence[LagBand] | None = None
    ) -> None:
        _check_log_type(log_type)
        if not 0 <= count <= MAX_RECORDS:
            raise ValueError(f"count must be between 0 and {MAX_RECORDS}, got {count}")
        if end <= start and count:
            raise ValueError(f"the insertion span [start={start}, end={end}) is empty; pass end > start")
        self.log_type = log_type
        self.seed = seed
        self.start, self.end = int(start), int(end)
        self._templates = _pool(log_type, seed)
        self._key = zlib.crc32(f"{seed}:{log_type}".encode()) << 24 ^ seed
        self._machine = f"{_mix(self._key) & 0xFFFFFFFFFF:010x}"
        self.insertion = _sorted_uniform(random.Random(f"{seed}:{log_type}:insertion"), count, self.start, self.end)
        self.delay = self._template_delays(count) if lags is None else self._band_delays(count, lags)
        self._event_index: tuple[array[int], array[int]] | None = None

    def _template_delays(self, count: int) -> array[int]:
        """Delay of record i: its template's range, picked by a one-multiply hash (this loop runs a million times)."""
        ranges = [(t.delay[0], t.delay[1] - t.delay[0]) for t in self._templates]
        by_record = [ranges[(i * _STRIDE) % POOL_SIZE] for i in range(min(count, POOL_SIZE))]
        key = self._key
        return array(
            "q",
            (
                lo + ((((key ^ i) * _ID_MULTIPLIER) & _MASK64) >> 24) % width
                for i, (lo, width) in zip(range(count), cycle(by_record))
            ),
        )

    def _band_delays(self, count: int, lags: Sequence[LagBand]) -> array[int]:
        """Delay of record i from a mix of bands: the high 32 bits of a hash pick the band, the low ones the lag."""
        bands = check_lag_bands(self.log_type, lags)
        total = math.fsum(band.share for band in bands)
        cuts = list(accumulate(int(band.share / total * 2**32) for band in bands))
        cuts[-1] = 2**32
        spans = [(band.low, band.high - band.low) for band in bands]
        key = self._key ^ 0x5A5A5A5A
        delays = array("q", bytes(8 * count))
        for i in range(count):
            h = _mix(key ^ i)
            low, width = spans[bisect_right(cuts, h >> 32)]
            delays[i] = low + (h & 0xFFFFFFFF) % width
        return delays

    def __len__(self) -> int:
        return len(self.insertion)

    def timestamp(self, i: int) -> int:
        return self.insertion[i] - self.delay[i]

    def subtype(self, i: int) -> str:
        return self._templates[_template_index(i)].subtype

    def template_field(self, i: int, name: str) -> Any:
        """A field every record of record ``i``'s template shares (e.g. ``acked``), without building the record."""
        return self._templates[_template_index(i)].fields.get(name)

    def record_id(self, i: int) -> str:
        """ObjectId-like: insertion time, machine part, index (so id order follows insertion order)."""
        base = f"{self.insertion[i]:08x}{self._machine}{i:06x}"
        id_hex = self._templates[_template_index(i)].id_hex
        if id_hex > 24:
            tail = "".join(f"{_mix(self._key ^ i ^ (n << 40)):016x}" for n in range(3))
            base += tail[: id_hex - 24]
        return base

    def key(self, i: int) -> tuple[int, str]:
        """The tenant order: insertion time, then ``_id``."""
        return self.insertion[i], self.record_id(i)

    def event_key(self, i: int) -> tuple[int, str]:
        """The event-time order: ``timestamp``, then ``_id``."""
        return self.insertion[i] - self.delay[i], self.record_id(i)

    def bisect_insertion(self, lo: int, hi: int) -> tuple[int, int]:
        """Index range of records whose insertion time is in ``[lo, hi]`` (both inclusive)."""
        return bisect_left(self.insertion, lo), bisect_right(self.insertion, hi)

    def event_index(self) -> tuple[array[int], array[int]]:
        """Record numbers in event-time order and their timestamps (for bisecting), built on first use.

        A stable sort on ``timestamp`` alone keeps records of one second in insertion order, which
        is ``_id`` order, so the result is ``(timestamp, _id)`` order. Two threads may build it at
        once; both get the same arrays.
        """
        if self._event_index is None:
            stamps = array("q", map(sub, self.insertion, self.delay))
            order = array("q", sorted(range(len(stamps)), key=stamps.__getitem__))
            self._event_index = order, array("q", (stamps[i] for i in order))
        return self._event_index

    def _head(self, i: int) -> tuple[Template, tuple[Any, ...]]:
        """Record ``i``'s template and the values of its per-record fields (``Template.head_names`` order)."""
        template = self._templates[_template_index(i)]
        ins = self.insertion[i]
        ts = ins - self.delay[i]
        h = _mix(self._key ^ (i << 1) ^ 1)
        values: list[Any] = [self.record_id(i), ts, ins]
        values += [
            (((h ^ salt) * _ID_MULTIPLIER) & _MASK64) >> 1 | _ID_FLOOR for salt in template.id_salts
        ]  # _big_id, inlined
        extra = template.extra
        if extra == "src_time":
            values.append(_src_time(ts, template))
        elif extra == "page":
            # The record's time follows the connection's end (SEKOIA test_connection_log: end = timestamp - 1).
            values += (ts - 1 - template.duration, ts - 1, _src_time(ts, template))
        elif extra == "network":
            # The flow ended about 90 s before the record's time (both SEKOIA network records: 90 s and 91 s).
            end_time = ts - 85 - (h >> 32) % 11
            values += (str(_big_id(h, 7)), str(h % 90000 + 10000), _iso(end_time - h % 600), _iso(end_time))
        elif extra == "incident":
            incident_id = _big_id(h, 11)
            values += (incident_id, incident_id, incident_id)  # one incident: its DLP, parent and forensic ids agree
        return template, tuple(values)

    def record_parts(self, i: int, insertion_time: bool = True) -> tuple[bytes, bytes]:
        """Record ``i`` as two JSON byte strings to concatenate: per-record fields, then the template's.

        Servers write the parts straight into a page, saving a copy of every record. Without
        ``insertion_time`` the record has no ``_insertion_epoch_timestamp`` (the shape of
        ``dataexport`` and ``datasearch`` records).
        """
        template, values = self._head(i)
        head_format = template.head_format
        if not insertion_time:
            head_format = template.head_format_bare
            values = values[:2] + values[3:]
        if template.match:
            head = head_format % (*values, values[-1], template.match.decode())
        else:
            head = head_format % values
        return head.encode(), template.body

    def record_bytes(self, i: int, insertion_time: bool = True) -> bytes:
        """Record ``i`` as JSON bytes."""
        return b"".join(self.record_parts(i, insertion_time))

    def record(self, i: int, insertion_time: bool = True) -> dict[str, Any]:
        """Record ``i`` as a dict equal to ``orjson.loads(record_bytes(i))``, sharing no mutable values."""
        template, values = self._head(i)
        record = dict(template.fields)  # copying a dict is several times faster than updating one
        record.update(zip(template.head_names, values))
        if not insertion_time:
            del record[INSERTION_TIME]
        for name, value in template.mutable:
            record[name] = orjson.loads(value)
        if template.match:
            record["dlp_match_info"] = [{"dlp_forensic_id": values[-1], **orjson.loads(b"{" + template.match)}]
        return record

    def iter_records(self, insertion_time: bool = True) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self.record(i, insertion_time)


def record_subtype(log_type: str, record: dict[str, Any]) -> str:
    """What the subtype filters match for a record: normalised ``alert_type``, ``epdlp`` for endpoint DLP."""
    if log_type == "endpoint":
        dlp = record.get("record_type") == ENDPOINT_DLP or record.get("sub_type") in _ENDPOINT_DLP_SUBTYPES
        return ENDPOINT_DLP if dlp else ""
    return normalise_alert_type(str(record.get("alert_type", "")))


def generate(
    log_type: str,
    count: int,
    start: int,
    end: int,
    seed: int,
    *,
    lags: Sequence[LagBand] | None = None,
    insertion_time: bool = True,
) -> list[dict[str, Any]]:
    """``count`` records of ``log_type`` with insertion times in ``[start, end)``, deterministic in ``seed``.

    Records are sorted by ``_insertion_epoch_timestamp`` then ``_id``. With ``count >= POOL_SIZE``
    every value the spec lists for this log type occurs at least once. ``insertion_time=False``
    gives the shape ``dataexport``/``datasearch`` serve (no ``_insertion_epoch_timestamp``).
    """
    corpus = Corpus(log_type, count, start, end, seed, lags)
    return list(corpus.iter_records(insertion_time))


__all__ = [
    "ALERT_LISTED_TYPES",
    "ALERT_UNLISTED_TYPES",
    "APP_FILE_ACTIVITIES",
    "APP_LOGIN_ACTIVITIES",
    "AUDIT_ACCOUNT_EVENTS",
    "AUDIT_AUTH_EVENTS",
    "AUDIT_ENTITY_EVENTS",
    "AUDIT_UNLISTED_EVENTS",
    "ENDPOINT_DLP",
    "INSERTION_TIME",
    "LOG_TYPE_NAMES",
    "NETWORK_LISTED_ACTIONS",
    "NETWORK_UNLISTED_ACTIONS",
    "POOL_SIZE",
    "Corpus",
    "LagBand",
    "check_lag_bands",
    "generate",
    "normalise_alert_type",
    "record_subtype",
]
