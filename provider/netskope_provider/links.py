"""The delivery task's extra link: the window's log stream in the CloudWatch console."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

#: Hosts of AWS's own endpoints (regional, FIPS, dual-stack, VPC interface endpoints): their log groups are in
#: the AWS console. Any other ``endpoint_url`` (LocalStack, moto, a proxy) has no console, so no link is offered.
AWS_ENDPOINT_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def console_escape(value: str) -> str:
    """Escape a log group or stream name the way the CloudWatch console's ``#logsV2:`` fragment expects.

    The console double-URL-encodes names and writes ``%`` as ``$`` (``/`` becomes ``$252F``);
    a single ``quote_plus`` as in the amazon provider's link opens an empty page for a group
    name with slashes.
    """
    return quote(quote(value, safe=""), safe="").replace("%", "$")


class CloudWatchWindowLink(BaseAwsLink):
    """Link from a delivery task instance to its window's log stream, in the AWS connection's region.

    The delivery operator stores region, partition, group, stream and the logs client's endpoint in
    XCom when it runs (``persist``), so the link works for finished task instances on Airflow 2 and 3
    alike. No link (empty) when the endpoint is not AWS's: the console would show another account's
    (or no) log group.
    """

    name: ClassVar[str] = "CloudWatch log stream"
    key: ClassVar[str] = "netskope_cloudwatch_window"
    format_str: ClassVar[str] = (
        BASE_AWS_CONSOLE_LINK + "/cloudwatch/home?region={region_name}#logsV2:log-groups/log-group/{log_group}"
        "/log-events/{log_stream}"
    )

    def format_link(self, **kwargs: Any) -> str:
        if not all(kwargs.get(field) for field in ("region_name", "aws_domain", "log_group", "log_stream")):
            return ""
        if not is_aws_endpoint(kwargs.get("endpoint_url")):
            return ""
        return super().format_link(
            **{
                **kwargs,
                "log_group": console_escape(kwargs["log_group"]),
                "log_stream": console_escape(kwargs["log_stream"]),
            }
        )


def is_aws_endpoint(endpoint_url: str | None) -> bool:
    """Whether a client endpoint is AWS's own (or not recorded, as by runs before it was stored)."""
    if not endpoint_url:
        return True
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host.endswith(AWS_ENDPOINT_SUFFIXES)
