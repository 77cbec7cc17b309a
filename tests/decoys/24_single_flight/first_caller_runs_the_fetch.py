"""The first caller awaits fetch() itself and hands the outcome on: cancelling it stops the fetch.

caught by: test_a_caller_cancelled_mid_fetch_does_not_cancel_the_others
says: inside the first caller's task
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future[T]] = {}

    async def do(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        waiting = self._waiting.get(key)
        if waiting is not None:  # someone is fetching already: wait for their outcome
            return await asyncio.shield(waiting)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[key] = waiting
        try:
            async with asyncio.timeout(self.timeout):
                result = await fetch()
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        except Exception as error:
            waiting.set_exception(error)
            raise
        else:
            waiting.set_result(result)
            return result
        finally:
            del self._waiting[key]
