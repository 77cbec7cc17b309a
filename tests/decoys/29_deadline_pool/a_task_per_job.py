"""Starts a task per job in submit(): nothing holds the jobs back, they all run at once.

caught by: test_three_workers_run_three_jobs_at_once_never_more
says: one task per job
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")


class JobPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def submit(
        self, job: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("submit() after shutdown()")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # Each job runs in a task of its own, started at once.
        self._tasks.append(asyncio.create_task(self._run(job, timeout, future)))
        return future

    async def shutdown(self, cancel_pending: bool = False, grace: float | None = None) -> None:
        self._closed = True
        if not cancel_pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    if self._tasks:
                        await asyncio.wait(self._tasks)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    async def _run(
        job: Callable[[], Awaitable[Any]], seconds: float | None, future: asyncio.Future[Any]
    ) -> None:
        try:
            async with asyncio.timeout(seconds):
                result = await job()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
        else:
            future.set_result(result)
