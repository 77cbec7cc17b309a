"""Kata 29: deadline pool - K workers run submitted jobs, each job with a deadline of its own."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")


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
    - A caller may give up by cancelling its future: a job still queued then never starts; a
      running one runs to its end, its outcome dropped. The worker goes on either way.
    - shutdown() waits for every submitted job; shutdown(cancel_pending=True) cancels the
      running jobs and the queued ones (which then never start): their futures end cancelled.
      Either way, no worker is left running once it returns. A submit() once shutdown() is
      called raises RuntimeError; a second shutdown() does nothing more, but it too returns
      only once the pool is shut down.
    - Stage 2: shutdown(grace=...) waits for the jobs at most `grace` seconds, then cancels
      whatever is still running or queued, as shutdown(cancel_pending=True) does.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Add here what the methods share: the queue of jobs, the worker tasks, whether the
        # pool is shut down.

    async def __aenter__(self) -> Self:
        """Start the `workers` worker tasks; return the pool."""
        raise NotImplementedError("write __aenter__(): start `workers` worker tasks on a queue")

    async def __aexit__(self, *exc_info: object) -> None:
        """Leaving `async with` drains: wait for every submitted job, then stop the workers."""
        await self.shutdown()

    def submit(
        self, job: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> asyncio.Future[T]:
        """Queue `job` and return at once a future for its outcome (a plain method: no await).

        The future gets what `await job()` returns, or raises what it raised. With a `timeout`,
        a job still running `timeout` seconds after a worker started it is cancelled, and its
        future raises TimeoutError. Once shutdown() is called (its drain too), submit() raises
        RuntimeError.

        >>> future = pool.submit(lambda: fetch("a"), timeout=0.5)
        >>> await future
        'page a'
        """
        raise NotImplementedError(
            "write submit(): queue the job with a new future, and return the future"
        )

    async def shutdown(self, cancel_pending: bool = False, grace: float | None = None) -> None:
        """Stop the pool: no submit() from now on, and no worker left running when it returns.

        - cancel_pending=False (a drain): wait until every submitted job has finished.
        - cancel_pending=True: cancel the running jobs and the queued ones (which never start);
          their futures end cancelled.
        - Stage 2: a drain with a `grace` period waits at most `grace` seconds, then cancels
          what is still running or queued, as cancel_pending=True does.

        If this call is cancelled mid-drain, it still cancels what is left and stops the
        workers before its CancelledError goes on. Calling it again (leaving `async with` after
        an explicit shutdown) does nothing more; a second call made while the first drains
        waits for that drain, and returns once no worker is left.
        """
        raise NotImplementedError(
            "write shutdown(): drain (or cancel) the jobs, then stop every worker"
        )
