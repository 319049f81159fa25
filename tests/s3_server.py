"""A real S3-compatible HTTP server (moto's) for the tests, started once per test session.

Registered from tests/conftest.py with ``pytest_plugins``. Nothing here mocks boto3: the
storage talks HTTP to moto's server on 127.0.0.1, as it would to MinIO or AWS.
"""

import functools
import logging
import threading
import urllib.request

import boto3
import pytest

from messages_app.storage import BodyS3Storage

BUCKET = "messageboard-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request moto serves: thousands of lines of noise in a test log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_endpoint) -> dict:
    """Empty the test server, create the bucket, and return a STORAGES entry for it."""
    s3_reset(s3_endpoint)
    return s3_storage_config(s3_endpoint)


class SharedConnectionS3Storage(BodyS3Storage):
    """The S3 body storage, sharing its boto3 connection between instances.

    Every test overrides STORAGES, which builds a new storage instance, and building a boto3
    session and resource costs ~0.1 s (it parses the service's JSON model): more than the rest
    of a test. A long-running app server builds one per thread once, as this does per thread
    and endpoint. Requests still go over HTTP through the real S3Storage and boto3 code.
    """

    _shared = threading.local()

    @property
    def connection(self):
        connections = self._shared.__dict__.setdefault("connections", {})
        key = (self.endpoint_url, self.access_key, self.region_name, self.addressing_style)
        if key not in connections:
            connections[key] = super().connection
        return connections[key]


class GetCountingS3Storage(BodyS3Storage):
    """The S3 body storage, recording the key of every GetObject it sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[str] = []

    @property
    def connection(self):
        connection = super().connection
        client = connection.meta.client
        # A connection of its own (not shared), so the hook counts this storage's reads only;
        # unique_id keeps the hook from being registered twice.
        client.meta.events.register(
            "before-parameter-build.s3.GetObject", self._record_get, unique_id=f"count-gets-{id(self)}"
        )
        return connection

    def _record_get(self, params, **kwargs) -> None:
        self.opened.append(params["Key"])


def s3_storage_config(endpoint: str, backend: str = "tests.s3_server.SharedConnectionS3Storage") -> dict:
    return {
        "BACKEND": backend,
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint,
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "addressing_style": "path",
            "file_overwrite": True,
            "default_acl": None,
        },
    }


@functools.cache
def s3_client(endpoint: str):
    """Return a boto3 client for the test server (built once: building one costs ~0.1 s)."""
    return boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)


def s3_reset(endpoint: str) -> None:
    """Empty the server and create the test bucket again."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
