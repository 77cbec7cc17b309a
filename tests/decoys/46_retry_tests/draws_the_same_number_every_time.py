"""Hands retry an rng that gives the same draw every time: a retry that draws once and reuses that
draw for every wait gives the very same delays.

caught by: test_your_tests_catch[draws_the_jitter_once]
says: uses that one draw for every wait
"""

import asyncio

import pytest
from backoff import retry


async def test_a_call_that_succeeds_at_once_is_returned_without_a_wait() -> None:
    call, sleep = Call("ok"), Sleep()
    assert await retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep) == "ok"
    assert call.count == 1 and sleep.delays == []


async def test_failed_calls_are_retried_until_one_succeeds() -> None:
    call, sleep = Call(ConnectionError(), TimeoutError(), "ok"), Sleep()
    rng = Draws(0.5)
    result = await retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=rng)
    assert result == "ok" and call.count == 3


async def test_each_wait_is_a_fresh_draw_times_a_window_that_doubles() -> None:
    call, sleep = Call(*[ConnectionError()] * 3, "ok"), Sleep()
    rng = Draws(0.5)
    await retry(call, attempts=4, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=rng)
    # windows 0.1, 0.2, 0.4 (a draw that is a power of 2 keeps the float exact)
    assert sleep.delays == [0.05, 0.1, 0.2]


async def test_the_window_stops_growing_at_max_delay() -> None:
    call, sleep = Call(*[ConnectionError()] * 4, "ok"), Sleep()
    await retry(call, attempts=5, base_delay=0.1, max_delay=0.3, sleep=sleep, rng=Draws(0.5))
    # windows 0.1, 0.2, then 0.3 instead of 0.4 and 0.8
    assert sleep.delays == [0.05, 0.1, 0.15, 0.15]


async def test_when_every_attempt_fails_the_last_error_is_raised_without_a_wait() -> None:
    errors = [ConnectionError("first"), TimeoutError("second"), ConnectionError("last")]
    call, sleep = Call(*errors), Sleep()
    with pytest.raises(ConnectionError) as raised:
        await retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=Draws(0.5))
    assert raised.value is errors[-1]
    assert call.count == 3 and sleep.delays == [0.05, 0.1]


async def test_an_error_not_in_retry_on_is_raised_at_once() -> None:
    error = PermissionError("forbidden")  # not in the default (ConnectionError, TimeoutError)
    call, sleep = Call(error, "ok"), Sleep()
    with pytest.raises(PermissionError) as raised:
        await retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep)
    assert raised.value is error
    assert call.count == 1 and sleep.delays == []


async def test_a_cancellation_during_a_call_ends_the_retry() -> None:
    call, sleep = Call(CANCELLED, "ok"), Sleep()
    retrying = asyncio.create_task(
        retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=Draws(0.5))
    )
    with pytest.raises(asyncio.CancelledError):
        await retrying
    assert call.count == 1 and sleep.delays == []


async def test_a_cancellation_during_a_wait_ends_the_retry() -> None:
    call, sleep = Call(ConnectionError(), "ok"), Sleep(cancelled=True)
    retrying = asyncio.create_task(
        retry(call, attempts=3, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=Draws(0.5))
    )
    with pytest.raises(asyncio.CancelledError):
        await retrying
    assert call.count == 1 and sleep.delays == [0.05]


CANCELLED = object()  # an answer of Call: the caller of retry gives up during this call


class Call:
    """The call retry makes: the n-th call gives the n-th answer (the last one repeats), an
    exception is raised, CANCELLED cancels the waiting task, anything else is returned."""

    def __init__(self, *answers: object) -> None:
        self.answers = answers
        self.count = 0

    async def __call__(self) -> object:
        self.count += 1
        answer = self.answers[min(self.count, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if answer is CANCELLED:
            await cancelled_here()
        return answer


class Sleep:
    """retry's sleep: records each delay and returns at once, so no real time passes. With
    `cancelled=True`, the caller of retry gives up during the wait instead."""

    def __init__(self, *, cancelled: bool = False) -> None:
        self.delays: list[float] = []
        self.cancelled = cancelled

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.cancelled:
            await cancelled_here()


class Draws:
    """retry's rng: gives `draws` in turn, the last one repeated."""

    def __init__(self, *draws: float) -> None:
        self.draws = list(draws)

    def __call__(self) -> float:
        return self.draws.pop(0) if len(self.draws) > 1 else self.draws[0]


async def cancelled_here() -> None:
    """Cancel the task that awaits this, as its caller would, and let the cancellation land."""
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)  # CancelledError is raised here, in the task
