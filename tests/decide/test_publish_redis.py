"""Publishing on the real Redis server (QS_TEST_REDIS_URL, default redis://127.0.0.1:6379/0;
.ci/run starts it). An unreachable server fails these tests: it is not a reason to skip them."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from quantsentinel.decide.publish import (
    RedisPublisher,
    channel_for,
    publish_approved,
    publisher_from_url,
    signal_payload,
)
from tests.decide.test_publish import blocked, real_approved, real_batch

REDIS_URL = os.environ.get("QS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(
            f"Redis at {REDIS_URL} is not reachable ({exc}); start it with `redis-server "
            '--daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`'
        )
    yield client
    client.close()


def tenant(name: str) -> str:
    # Unique per test run: parallel workers (and other runs) share the one server.
    return f"{name}-{uuid.uuid4().hex[:10]}"


def messages(pubsub: redis.client.PubSub, quiet_s: float = 0.5) -> list[str]:
    """Every message until none has arrived for `quiet_s`."""
    got: list[str] = []
    while (
        message := pubsub.get_message(ignore_subscribe_messages=True, timeout=quiet_s)
    ) is not None:
        got.append(message["data"].decode())
    return got


def test_a_tenant_receives_exactly_its_own_payload(client: redis.Redis) -> None:
    a, b, c = tenant("acme"), tenant("beta"), tenant("gamma")
    pubsub = client.pubsub()
    pubsub.subscribe(channel_for(a))
    confirm = pubsub.get_message(timeout=2)
    assert confirm is not None and confirm["type"] == "subscribe"
    publisher = publisher_from_url(REDIS_URL)
    assert isinstance(publisher, RedisPublisher)
    batch = real_batch()
    try:
        report = publish_approved(
            publisher, batch, [real_approved(a), real_approved(b), blocked(c)]
        )
    finally:
        publisher.close()
    assert report.published == {a: 1, b: 0} and report.failed == {}
    assert report.skipped_blocked == 1
    got = messages(pubsub)
    pubsub.close()
    assert [json.loads(m) for m in got] == [signal_payload(batch, real_approved(a))]


def test_a_closed_port_is_a_recorded_failure_not_an_exception() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    publisher = RedisPublisher(f"redis://127.0.0.1:{port}/0")
    a, b = tenant("acme"), tenant("beta")
    started = time.monotonic()
    report = publish_approved(publisher, real_batch(), [real_approved(a), real_approved(b)])
    elapsed = time.monotonic() - started
    publisher.close()
    assert report.published == {}
    assert set(report.failed) == {a, b}
    assert "ConnectionError" in report.failed[a] and str(port) in report.failed[a]
    assert elapsed < 10  # seconds, not minutes


def test_a_hanging_server_costs_a_few_timeouts_not_one_per_tenant() -> None:
    # Accepts connections (the backlog does) and never answers: the blackholed-Redis case.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        publisher = RedisPublisher(f"redis://127.0.0.1:{server.getsockname()[1]}/0", timeout_s=0.2)
        tenants = [tenant(f"t{i}") for i in range(8)]
        started = time.monotonic()
        report = publish_approved(publisher, real_batch(), [real_approved(t) for t in tenants])
        elapsed = time.monotonic() - started
        publisher.close()
    assert report.published == {} and list(report.failed) == tenants
    assert all("Timeout" in report.failed[t] for t in tenants[:3])
    assert all(report.failed[t].startswith("not attempted") for t in tenants[3:])
    # 3 publishes x (1 try + 1 retry) x 0.2 s, with room for a slow machine.
    assert elapsed < 3
