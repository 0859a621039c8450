"""The shared rate limiter on the real Redis (127.0.0.1:6379): two API processes count as one."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.api.ratelimit import RedisWindowLimiter
from tests.conftest import AUTH, create_kb

REDIS = "redis://127.0.0.1:6379/15"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")


def test_two_limiters_share_one_window_and_it_slides() -> None:
    _redis_or_skip()
    first, second = RedisWindowLimiter(REDIS), RedisWindowLimiter(REDIS)
    key = f"test:{uuid.uuid4().hex}"
    assert first.hit(key, 3, window_s=1.0) is None
    assert second.hit(key, 3, window_s=1.0) is None
    assert first.hit(key, 3, window_s=1.0) is None
    assert second.hit(key, 3, window_s=1.0) == 1  # the fourth call, whichever process takes it
    refused = time.monotonic()
    while first.hit(key, 3, window_s=1.0) is not None:  # a refused call is not counted
        assert time.monotonic() - refused < 10, "the window never slid"
        time.sleep(0.05)
    assert time.monotonic() - refused > 0.5  # it slid when the first calls left it, not at once
    first.close()
    second.close()


def test_an_unreachable_redis_lets_calls_through() -> None:
    limiter = RedisWindowLimiter("redis://127.0.0.1:1/0")
    assert all(limiter.hit("k", 1) is None for _ in range(3))


def test_widget_limits_hold_across_api_processes(make_settings, embedder) -> None:
    _redis_or_skip()
    settings = make_settings(rate_limit_redis_url=REDIS)
    with (
        TestClient(create_app(settings, embedder=embedder)) as one,
        TestClient(create_app(settings, embedder=embedder)) as two,
    ):
        one.headers.update(AUTH)
        one.app.state.rate_limiter.reset()  # type: ignore[attr-defined]
        kb_id = create_kb(one, f"kb-{uuid.uuid4().hex[:8]}")
        site = "https://help.example.com"
        one.patch(
            f"/v1/knowledge-bases/{kb_id}",
            json={"widget": {"allowed_origins": [site], "messages_per_minute": 2}},
        )
        key = one.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]
        one.headers.pop("Authorization")

        def ask(client: TestClient) -> int:
            return client.post(
                f"/v1/widget/{key}/chat", json={"message": "hi"}, headers={"Origin": site}
            ).status_code

        assert [ask(one), ask(two), ask(one), ask(two)] == [200, 200, 429, 429]
