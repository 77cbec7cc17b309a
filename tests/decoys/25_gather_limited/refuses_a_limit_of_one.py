"""Refuses a limit of 1 with ValueError: `limit <= 1` where `limit < 1` belongs.

caught by: test_a_limit_of_one_is_legal_and_runs_them_one_at_a_time
says: a limit of 1 is legal
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, TypeVar, overload

T = TypeVar("T")


@overload
async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, T]],
    limit: int,
    *,
    return_exceptions: Literal[False] = False,
) -> list[T]: ...


@overload
async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, T]], limit: int, *, return_exceptions: bool
) -> list[T | Exception]: ...


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    """Run the coroutines with at most `limit` of them at once; return their results in order.

    The next coroutine starts as soon as a running one ends (a sliding window, not batches),
    and it becomes a task only then: whatever the number of coroutines, at most `limit` tasks
    exist at any moment. The results follow the order of `coros`.

    If one fails, its exception is raised (itself, not an ExceptionGroup): the running ones are
    cancelled and waited for, the ones not started yet are closed without ever running.
    A limit below 1 raises ValueError (and closes every coroutine). No coroutines: [].

    Stage 2: with return_exceptions=True nothing is cancelled: a failed coroutine's exception
    takes the place of its result in the list, as with asyncio.gather.

    >>> asyncio.run(gather_limited([fetch("a"), fetch("b"), fetch("c")], limit=2))
    ['page a', 'page b', 'page c']
    """
    # Read them all now: coroutine objects are cheap, the tasks are what the limit is about.
    coros = list(coros)
    try:
        if limit <= 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        # `limit` slots: one is taken before each task is created, and given back when it ends.
        slots = asyncio.Semaphore(limit)
        tasks: list[asyncio.Task[Any]] = []

        async def run(coro: Coroutine[Any, Any, Any]) -> Any:
            try:
                result = await coro
            except Exception as error:
                if not return_exceptions:
                    raise  # the slot stays taken: nothing new starts after a failure
                result = error  # stage 2: the error takes the place of the result
            slots.release()  # the next coroutine may start now
            return result

        try:
            # A failed task makes the TaskGroup cancel the others (and this loop) and wait.
            async with asyncio.TaskGroup() as tg:
                for coro in coros:
                    await slots.acquire()  # wait for a free slot BEFORE creating the task
                    tasks.append(tg.create_task(run(coro)))
        except* Exception as group:
            # The TaskGroup raises an ExceptionGroup: give the caller the first error itself.
            raise group.exceptions[0] from None
    finally:
        # Every task is done now. close() does nothing to a coroutine that ran, and ends one
        # that never started without running it, so none warns "was never awaited".
        for coro in coros:
            coro.close()
    # The tasks are in the order of `coros`, whatever order they finished in.
    return [task.result() for task in tasks]
