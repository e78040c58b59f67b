"""Retries with the first attempt sent outside tenacity: whatever the vendor answers, the client
sends, waits, counts, logs and fails exactly as the plain version below (tenacity around every
attempt, as it was written before)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from connectors.errors import ConnectorError, RateLimited, TransientError
from connectors.http import IDEMPOTENT_METHODS, RetryPolicy, VendorClient
from connectors.ratelimit import VendorGate

BASE = "https://vendor.example"

ANSWERS = st.sampled_from(
    [
        (200, None),
        (201, None),
        (429, None),
        (429, "0"),
        (429, "3"),
        (500, None),
        (502, None),
        (503, "2"),
        (408, None),
        (400, None),
        (401, None),
        (404, None),
        (302, None),
        ("connect", None),
        ("read timeout", None),
        ("pool timeout", None),
        ("dropped", None),
    ]
)


async def reference_request(
    client: VendorClient, method: str, url: str, *, operation: str, idempotent: bool | None
) -> httpx.Response:
    """``VendorClient.request`` as it was: tenacity set up for every request, from attempt 1."""
    may_repeat = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, TransientError):
            return False
        return may_repeat or isinstance(exc, RateLimited) or exc.status is None

    kwargs: dict[str, Any] = {"sleep": client._sleep} if client._sleep else {}
    retrying = AsyncRetrying(
        retry=retry_if_exception(retryable),
        stop=stop_after_attempt(client._retry.attempts) | stop_after_delay(client._retry.max_delay),
        wait=client._wait,
        before_sleep=client._count_retry,
        reraise=True,
        **kwargs,
    )
    async for attempt in retrying:
        with attempt:
            return await client._send_once(
                method,
                url,
                operation=operation,
                params=None,
                json={"a": 1} if method != "GET" else None,
                data=None,
                headers=None,
            )
    raise AssertionError("unreachable")


def transport(script: Iterator[tuple[Any, str | None]]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        status, retry_after = next(script, (200, None))
        if status == "connect":
            raise httpx.ConnectError("refused", request=request)
        if status == "read timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if status == "pool timeout":
            raise httpx.PoolTimeout("busy", request=request)
        if status == "slow 503":  # an answer that takes a quarter second of real time
            time.sleep(0.25)
            return httpx.Response(503, text="slow")
        if status == "dropped":
            raise httpx.RemoteProtocolError("peer closed", request=request)
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(status, headers=headers, text=f"answer {status}")

    return httpx.MockTransport(answer)


async def outcome(
    plain: bool,
    script: list[tuple[Any, str | None]],
    method: str,
    idempotent: bool | None,
    policy: RetryPolicy,
) -> tuple[Any, ...]:
    """Everything a caller and an operator see of one request."""
    now = [1000.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    answers = iter(script)
    client = VendorClient(
        connector="acme",
        base_url=BASE,
        gate=VendorGate(sleep=sleep, clock=lambda: now[0]),
        sleep=sleep,
        retry=policy,
        transport=transport(answers),
    )
    random.seed(7)  # the backoff's jitter
    with capture_logs() as logs:
        try:
            if plain:
                response = await reference_request(
                    client, method, "/items", operation="op", idempotent=idempotent
                )
            else:
                response = await client.request(
                    method,
                    "/items",
                    operation="op",
                    json={"a": 1} if method != "GET" else None,
                    idempotent=idempotent,
                )
            result: Any = response.status_code
        except ConnectorError as exc:
            result = (type(exc).__name__, str(exc), exc.status, getattr(exc, "who_acts", None))
            if isinstance(exc, RateLimited):
                result += (exc.retry_after,)
    await client.aclose()
    stats = client.stats
    return (
        result,
        sleeps,
        len(list(answers)),  # answers left: how many requests were sent
        stats.retries,
        stats.throttled,
        dict(stats.by_status),
        [(e["event"], e.get("attempt"), e.get("error"), e.get("status")) for e in logs],
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ANSWERS, max_size=6),
    st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE"]),
    st.sampled_from([None, True, False]),
    st.integers(1, 5),
    st.sampled_from([0.0, 120.0]),
)
@example([(503, None), (503, None), (200, None)], "GET", None, 5, 120.0)
@example([(429, "3"), (200, None)], "POST", None, 5, 120.0)
@example([("connect", None), (200, None)], "POST", None, 5, 120.0)
@example([("read timeout", None), (200, None)], "POST", None, 5, 120.0)
@example([(500, None), (200, None)], "GET", None, 5, 0.0)
@example([(500, None)] * 6, "PUT", None, 3, 120.0)
def test_a_request_retries_as_tenacity_around_every_attempt_did(
    script: list[tuple[Any, str | None]],
    method: str,
    idempotent: bool | None,
    attempts: int,
    max_delay: float,
) -> None:
    policy = RetryPolicy(attempts=attempts, max_delay=max_delay, backoff_min=0.01, backoff_max=0.05)
    fast = asyncio.run(outcome(False, script, method, idempotent, policy))
    plain = asyncio.run(outcome(True, script, method, idempotent, policy))
    assert fast == plain


@pytest.mark.parametrize(
    ("script", "sent"),
    [([("slow 503", None), (200, None)], 1), ([(503, None), (200, None)], 2)],
)
def test_the_time_budget_counts_from_the_first_send(
    script: list[tuple[Any, str | None]], sent: int
) -> None:
    """A first attempt that used up the budget (a quarter second against 0.1 s) is not
    retried; a quick one is."""
    policy = RetryPolicy(attempts=5, max_delay=0.1, backoff_min=0.01, backoff_max=0.02)
    fast = asyncio.run(outcome(False, script, "GET", None, policy))
    plain = asyncio.run(outcome(True, script, "GET", None, policy))
    assert fast == plain
    assert len(script) - fast[2] == sent
