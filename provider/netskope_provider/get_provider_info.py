"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from netskope_provider import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe the provider; ``package-name`` must equal the distribution name."""
    return {
        "package-name": "airflow-provider-netskope",
        "name": "Netskope",
        "description": "Netskope REST API v2 events and alerts, normalised to OCSF 1.5.0, into AWS CloudWatch Logs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Netskope",
                "external-doc-url": "https://docs.netskope.com/en/rest-api-v2-overview-312207/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Netskope", "python-modules": ["netskope_provider.hooks.netskope"]}],
        "operators": [
            {
                "integration-name": "Netskope",
                "python-modules": [
                    "netskope_provider.operators.fetch",
                    "netskope_provider.operators.transform",
                    "netskope_provider.operators.cloudwatch",
                ],
            }
        ],
        "extra-links": ["netskope_provider.links.CloudWatchWindowLink"],
        "connection-types": [
            {
                "connection-type": "netskope",
                "hook-class-name": "netskope_provider.hooks.netskope.NetskopeHook",
                "hook-name": "Netskope",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Tenant host", "password": "API token (RBAC v3 service account)"},
                    "placeholders": {
                        "host": "mytenant.goskope.com",
                        "password": "leave empty to read it from AWS Secrets Manager",
                        "extra": '{"secret_arn": "arn:aws:secretsmanager:...", "aws_conn_id": "aws_default"}',
                    },
                },
                "conn-fields": {
                    "secret_arn": {
                        "label": "Secrets Manager secret ARN",
                        "description": "Secret holding the API token, as a plain string or JSON with key api_token.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "aws_conn_id": {
                        "label": "AWS connection id",
                        "description": "AWS connection used to read the secret.",
                        "schema": {"type": ["string", "null"], "default": "aws_default"},
                    },
                    "allow_non_goskope_host": {
                        "label": "Allow a host outside goskope.com",
                        "description": "Only for private deployments and the local simulator.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "rate_limit_per_second": {
                        "label": "Requests per second per endpoint",
                        "schema": {"type": ["number", "null"], "default": 4, "minimum": 0.1, "maximum": 100},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "Custom CA bundle for TLS verification (verification is always on).",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
