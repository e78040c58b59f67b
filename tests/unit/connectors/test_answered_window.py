"""A window that counts each request from its answer: the vendor saw the request between
sending and answer, so however long each one took, no minute of the vendor's can hold more
than the budget, without a margin for latency."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.ratelimit import VendorGate, Window

pytestmark = pytest.mark.anyio


class Clock:
    """Virtual time: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)

    def __call__(self) -> float:
        return self.now


def answered(limit: int, clock: Clock) -> VendorGate:
    return VendorGate(
        window=Window(limit, 60.0, margin=0.0, answered=True),
        max_in_flight=limit + 1,
        clock=clock,
        sleep=clock.sleep,
    )


async def test_a_slot_frees_a_minute_after_the_answer_not_after_the_send() -> None:
    clock = Clock()
    gate = answered(2, clock)
    for _ in range(2):
        async with gate.turn():
            clock.now += 5.0  # the vendor takes five seconds to answer
    async with gate.turn():
        sent = clock.now
    assert sent == 65.0, "the first request was answered at 5 s"


async def test_a_request_waits_while_every_slot_is_in_flight() -> None:
    clock = Clock()
    gate = answered(1, clock)
    sent: list[float] = []

    async def second() -> None:
        async with gate.turn():
            sent.append(clock.now)

    async with gate.turn():
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)
        assert not sent, "the only slot is in flight"
        clock.now = 3.0
    await waiting
    assert sent == [63.0]


async def test_a_window_counted_at_send_keeps_its_margin() -> None:
    clock = Clock()
    gate = VendorGate(window=Window(1, 60.0), clock=clock, sleep=clock.sleep)
    async with gate.turn():
        clock.now += 5.0
    async with gate.turn():
        assert clock.now == 61.0


@settings(deadline=None, max_examples=60)
@example(
    limit=1, calls=[(1.7370220079753373, 1.0587361226260708, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
)
@given(
    limit=st.integers(1, 5),
    calls=st.lists(
        st.tuples(
            st.floats(0.0, 30.0),  # pause before the caller asks
            st.floats(0.0, 20.0),  # how long the vendor takes to answer
            st.floats(0.0, 1.0),  # where in between the vendor counts the request
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_no_minute_of_the_vendor_holds_more_than_the_budget(
    limit: int, calls: list[tuple[float, float, float]]
) -> None:
    async def run() -> list[float]:
        clock = Clock()
        gate = answered(limit, clock)
        arrivals = []
        for pause, took, counted in calls:
            clock.now += pause
            async with gate.turn():
                arrivals.append(clock.now + took * counted)
                clock.now += took
        return arrivals

    arrivals = asyncio.run(run())
    for start in arrivals:
        assert sum(start <= t < start + 60.0 for t in arrivals) <= limit
