"""S3 staging is encrypted at rest: SSE-S3 by default, SSE-KMS with the configured key (buckets that require aws:kms)."""

from __future__ import annotations

import pytest

from netskope_provider import staging

BUCKET = "netskope-sse-staging"


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [("", {"ServerSideEncryption": "AES256"}), ("alias/netskope-staging", {"ServerSideEncryption": "aws:kms"})],
)
def test_staged_objects_use_sse_s3_or_the_configured_kms_key(
    moto_server, monkeypatch, key_id: str, expected: dict
) -> None:
    monkeypatch.setenv("NETSKOPE_STAGING_KMS_KEY_ID", key_id)
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    path = staging.staging_path(f"s3://{BUCKET}/run/raw.ndjson.gz", "aws_default")
    staging.write_lines(path, [b'{"_id": "1"}'])
    head = s3.head_object(Bucket=BUCKET, Key="run/raw.ndjson.gz")
    assert head["ServerSideEncryption"] == expected["ServerSideEncryption"]
    assert (key_id in head.get("SSEKMSKeyId", "")) if key_id else "SSEKMSKeyId" not in head
    assert list(staging.read_lines(path)) == [b'{"_id": "1"}']
