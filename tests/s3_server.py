"""A real S3-compatible server on 127.0.0.1 for the lake tests: moto in server mode, as a subprocess.

moto is a Python package (the dev extra), not a service of the machine, so these tests run everywhere
and never skip. One server per test session on a free port; each test gets its own bucket and the
``AWS_*`` variables the lake reads (``rules.lake_store.storage_options_from_env``) set for the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pipelines.local_s3 import LocalS3


@dataclass(frozen=True)
class S3Lake:
    """A bucket on the local server: ``uri`` is the lake root, ``env`` the variables that reach it."""

    uri: str
    bucket: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start ``moto.server`` on a free loopback port (``pipelines.local_s3``, the one owner of its start-up);
    stopped (by its own process id) after the session."""
    with LocalS3.start() as server:
        yield server.endpoint


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Lake:
    """A fresh bucket and the environment of a lake on it (set for this test and its subprocesses)."""
    import boto3

    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "doisoat-test",
           "AWS_SECRET_ACCESS_KEY": "doisoat-test", "AWS_REGION": "us-east-1"}
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="doisoat-test",
                 aws_secret_access_key="doisoat-test").create_bucket(Bucket=bucket)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return S3Lake(f"s3://{bucket}/doisoat/lake", bucket, env)
