"""Returns from a drain once queue.join() is done, leaving the idle workers waiting in get().

caught by: test_every_future_gets_the_result_of_its_job
says: never stops on its own
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")

_Entry = tuple[Callable[[], Awaitable[Any]], float | None, asyncio.Future[Any]]


class JobPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def submit(
        self, job: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("submit() after shutdown(): the pool runs no more jobs")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, timeout, future))
        return future

    async def shutdown(self, cancel_pending: bool = False, grace: float | None = None) -> None:
        self._closed = True
        try:
            if not cancel_pending:
                # A drain: join() returns once every job is done (stage 2: or the grace is over).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(grace):
                        await self._queue.join()
        finally:
            # However the drain ended (this call cancelled too): what is still queued never
            # starts, and its future ends cancelled.
            while not self._queue.empty():
                _, _, future = self._queue.get_nowait()
                future.cancel()
                self._queue.task_done()
            if cancel_pending:  # after a drain every job is done: nothing left to stop
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            entry = await self._queue.get()
            try:
                await self._run(entry)
            finally:
                self._queue.task_done()

    @staticmethod
    async def _run(entry: _Entry) -> None:
        job, seconds, future = entry
        if future.cancelled():
            return
        try:
            async with asyncio.timeout(seconds):
                result = await job()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)
