"""/healthz and /readyz: in process, and from a board served by gunicorn whose database, storage or Redis is gone."""

import json
import logging
import time

import boto3
import pytest
from django.conf import settings

from tests.support.processes import free_port, get_json, served

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = "127.0.0.1:9"  # the discard port: nothing listens on it here


def test_healthz_answers_without_asking_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "no-cache" in answer["Cache-Control"]


def test_readyz_reports_each_part_with_its_latency(client):
    answer = client.get("/readyz")
    data = answer.json()
    assert answer.status_code == 200, data
    assert data["status"] == "ok"
    assert set(data["checks"]) == {"database", "storage", "cache"}
    for check in data["checks"].values():
        assert check["ok"] is True and 0 <= check["ms"] < 5000


def test_readyz_gives_away_no_secret(client, body_storage):
    body = client.get("/readyz").content.decode()
    for secret in (settings.SECRET_KEY, settings.DATABASES["default"]["NAME"], str(settings.MEDIA_ROOT)):
        assert str(secret) not in body


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(tmp_path):
    env = {"DATABASE_URL": f"postgres://postgres@{CLOSED}/nowhere", "MEDIA_ROOT": str(tmp_path)}
    with served(env) as address:
        assert get_json(address + "/healthz") == (200, {"status": "ok"})
        status, data = get_json(address + "/readyz")
    assert status == 503
    assert data["status"] == "fail"
    assert data["checks"]["database"]["ok"] is False
    assert data["checks"]["storage"]["ok"] is True and data["checks"]["cache"]["ok"] is True
    assert "nowhere" not in json.dumps(data)


def test_readyz_is_503_naming_the_cache_when_redis_is_unreachable(tmp_path):
    with served({"REDIS_URL": f"redis://{CLOSED}/0", "MEDIA_ROOT": str(tmp_path)}) as address:
        status, data = get_json(address + "/readyz")
    assert status == 503
    assert data["checks"]["cache"]["ok"] is False
    assert data["checks"]["database"]["ok"] is True


def test_readyz_is_503_naming_the_storage_when_its_s3_endpoint_stops(tmp_path):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    store = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    store.start()
    host, port = store.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(Bucket="health")
    env = {
        "MESSAGEBOARD_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "health",
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ADDRESSING_STYLE": "path",
    }
    stopped = False
    try:
        with served(env) as address:
            status, data = get_json(address + "/readyz")
            assert status == 200 and data["checks"]["storage"]["ok"] is True

            store.stop()
            stopped = True
            started = time.monotonic()
            status, data = get_json(address + "/readyz")
            took = time.monotonic() - started
    finally:
        if not stopped:
            store.stop()
    assert status == 503
    assert data["checks"]["storage"]["ok"] is False
    assert data["checks"]["database"]["ok"] is True
    # One attempt with second-long timeouts, not the bodies' retries: a load balancer waits less.
    assert took < 10
    assert "testing" not in json.dumps(data)
