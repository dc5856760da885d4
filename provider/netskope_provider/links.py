"""The delivery task's extra link: the window's log stream in the CloudWatch console."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


def console_escape(value: str) -> str:
    """Escape a log group or stream name the way the CloudWatch console's ``#logsV2:`` fragment expects.

    The console double-URL-encodes names and writes ``%`` as ``$`` (``/`` becomes ``$252F``);
    a single ``quote_plus`` as in the amazon provider's link opens an empty page for a group
    name with slashes.
    """
    return quote(quote(value, safe=""), safe="").replace("%", "$")


class CloudWatchWindowLink(BaseAwsLink):
    """Link from a delivery task instance to its window's log stream, in the AWS connection's region.

    The delivery operator stores region, partition, group and stream in XCom when it runs
    (``persist``), so the link works for finished task instances on Airflow 2 and 3 alike.
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
        return super().format_link(
            **{
                **kwargs,
                "log_group": console_escape(kwargs["log_group"]),
                "log_stream": console_escape(kwargs["log_stream"]),
            }
        )
