"""Kata 19: worker pool - K workers on one asyncio.Queue; a bounded queue holds a producer back."""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable

# A handler: call it with an item to get an awaitable that does the work and returns a result.
Handle = Callable[[str], Awaitable[str]]


async def worker(queue: asyncio.Queue[str], handle: Handle, results: list[str]) -> None:
    """One worker: take the next item from `queue`, append `await handle(item)` to `results`,
    mark the item done with `queue.task_done()`; again and again, until the worker is stopped.

    process_all and produce_and_consume each run `workers` of these on their queue.
    """
    while True:
        # Wait for the next item: the worker sleeps here while the queue is empty.
        item = await queue.get()
        try:
            results.append(await handle(item))
        finally:
            # One task_done() per get(): queue.join() counts them.
            queue.task_done()


async def process_all(items: list[str], handle: Handle, workers: int) -> list[str]:
    """Handle every item exactly once with `workers` worker tasks sharing one asyncio.Queue.

    Returns the results in the order they were finished. Returns only once every item is done
    and every worker has stopped: 5 items of 0.1 s with 3 workers take 2 rounds, 0.2 s.
    If a handle raises, the other workers are stopped and the error propagates (inside an
    ExceptionGroup if a TaskGroup raises it).

    >>> sorted(asyncio.run(process_all(["a", "b", "c"], handle, workers=2)))
    ['done a', 'done b', 'done c']
    """
    queue: asyncio.Queue[str] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results: list[str] = []
    # A TaskGroup: if a worker fails, it cancels the others and the wait, and raises the error.
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        # join() returns once task_done() was called for every item put.
        await queue.join()
        # The workers now wait for an item that never comes: stop them (the group awaits them).
        for task in tasks:
            task.cancel()
    return results


async def produce_and_consume(
    source: AsyncIterable[str], handle: Handle, workers: int, maxsize: int
) -> list[str]:
    """Handle every item of `source` exactly once with `workers` workers, through a queue
    holding at most `maxsize` items: the producer takes the next item from `source` only once
    the queue has room for it (backpressure).

    Returns the results in the order they were finished, once every worker has stopped.

    >>> sorted(asyncio.run(produce_and_consume(stream(), handle, workers=2, maxsize=2)))
    ['done a', 'done b', 'done c', 'done d']
    """
    # A bounded queue: put() waits while it holds `maxsize` items.
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        # The workers first: they free the slots the producer waits for.
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        # The producer: the next item is taken from the source only after this one fits.
        async for item in source:
            await queue.put(item)
        await queue.join()
        for task in tasks:
            task.cancel()
    return results
