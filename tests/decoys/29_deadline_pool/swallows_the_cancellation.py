"""Cancels the job's future when its worker is cancelled, but swallows the CancelledError.

caught by: test_a_cancelling_shutdown_cancels_the_queued_jobs_before_they_start
says: caught the CancelledError and went back to its loop
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")

# One queued job: the job, its timeout, and the future its caller holds.
_Entry = tuple[Callable[[], Awaitable[Any]], float | None, asyncio.Future[Any]]


class JobPool:
    """Runs submitted jobs on `workers` worker tasks: never more than `workers` jobs at once.

    async with JobPool(3) as pool:
        receipt = pool.submit(lambda: payments.charge(order), timeout=2.0)
        print(await receipt)
    # Leaving the block waits for every submitted job (a drain), then stops the workers.

    - A job is a function without arguments returning an awaitable: `await job()` runs it.
    - submit() does not wait: it returns at once a future that gets the job's result, or its
      exception. A job with a `timeout` still running `timeout` seconds after it STARTED is
      cancelled, and its future raises TimeoutError; the other jobs go on.
    - shutdown() waits for every submitted job; shutdown(cancel_pending=True) cancels the
      running jobs and the queued ones (which then never start): their futures end cancelled.
      Either way, no worker is left running once it returns. A submit() after shutdown()
      raises RuntimeError; a second shutdown() does nothing more.
    - Stage 2: shutdown(grace=...) waits for the jobs at most `grace` seconds, then cancels
      whatever is still running or queued, as shutdown(cancel_pending=True) does.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        """Start the `workers` worker tasks; return the pool."""
        # K workers, K jobs at most at once: each runs one job at a time.
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Leaving `async with` drains: wait for every submitted job, then stop the workers."""
        await self.shutdown()

    def submit(
        self, job: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> asyncio.Future[T]:
        """Queue `job` and return at once a future for its outcome (a plain method: no await).

        The future gets what `await job()` returns, or raises what it raised. With a `timeout`,
        a job still running `timeout` seconds after a worker started it is cancelled, and its
        future raises TimeoutError. After shutdown(), submit() raises RuntimeError.

        >>> future = pool.submit(lambda: fetch("a"), timeout=0.5)
        >>> await future
        'page a'
        """
        if self._closed:
            raise RuntimeError("submit() after shutdown(): the pool runs no more jobs")
        # The caller awaits this future; a worker sets its result (or exception) later.
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, timeout, future))
        return future

    async def shutdown(self, cancel_pending: bool = False, grace: float | None = None) -> None:
        """Stop the pool: no submit() from now on, and no worker left running when it returns.

        - cancel_pending=False (a drain): wait until every submitted job has finished.
        - cancel_pending=True: cancel the running jobs and the queued ones (which never start);
          their futures end cancelled.
        - Stage 2: a drain with a `grace` period waits at most `grace` seconds, then cancels
          what is still running or queued, as cancel_pending=True does.

        Calling it again (leaving `async with` after an explicit shutdown) does nothing more.
        """
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
            # Cancelling a worker cancels the job it runs (see _run); idle ones just stop.
            for task in self._tasks:
                task.cancel()
            # Wait until they have stopped: cancel() only asks.
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        """One worker: take the next queued job, run it, settle its future; again and again."""
        while True:
            entry = await self._queue.get()
            try:
                await self._run(entry)
            finally:
                self._queue.task_done()  # join() counts these

    @staticmethod
    async def _run(entry: _Entry) -> None:
        """Run one job under its own deadline, counted from now; its outcome goes to its future."""
        job, seconds, future = entry
        if future.cancelled():
            return  # its caller gave up while it waited in the queue
        try:
            # The deadline cancels this job only, and raises TimeoutError in its place.
            async with asyncio.timeout(seconds):
                result = await job()
        except asyncio.CancelledError:
            future.cancel()  # shutdown stopped this worker mid-job: the job ends cancelled
        except Exception as error:
            # The job's error (TimeoutError too) belongs to its future: the worker goes on.
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)
