"""Tests only calls that end in success: a success at once, and failures retried until one
succeeds, with its waits.

caught by: test_your_tests_catch[calls_again_after_a_cancelled_wait]
says: caught 6 of 13
"""

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
    rng = Draws(0.5, 0.25, 0.5)
    await retry(call, attempts=4, base_delay=0.1, max_delay=10.0, sleep=sleep, rng=rng)
    # windows 0.1, 0.2, 0.4 (a draw that is a power of 2 keeps the float exact)
    assert sleep.delays == [0.05, 0.05, 0.2]


class Call:
    """The call retry makes: the n-th call gives the n-th answer (the last one repeats), an
    exception is raised, anything else is returned."""

    def __init__(self, *answers: object) -> None:
        self.answers = answers
        self.count = 0

    async def __call__(self) -> object:
        self.count += 1
        answer = self.answers[min(self.count, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleep:
    """retry's sleep: records each delay and returns at once, so no real time passes."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Draws:
    """retry's rng: gives `draws` in turn, the last one repeated."""

    def __init__(self, *draws: float) -> None:
        self.draws = list(draws)

    def __call__(self) -> float:
        return self.draws.pop(0) if len(self.draws) > 1 else self.draws[0]
