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
    raise NotImplementedError("write worker(): get an item, handle it, task_done(), repeat")


async def process_all(items: list[str], handle: Handle, workers: int) -> list[str]:
    """Handle every item exactly once with `workers` worker tasks sharing one asyncio.Queue.

    Returns the results in the order they were finished. Returns only once every item is done
    and every worker has stopped: 5 items of 0.1 s with 3 workers take 2 rounds, 0.2 s.
    If a handle raises, the other workers are stopped and the error propagates (inside an
    ExceptionGroup if a TaskGroup raises it).

    >>> sorted(asyncio.run(process_all(["a", "b", "c"], handle, workers=2)))
    ['done a', 'done b', 'done c']
    """
    raise NotImplementedError(
        "write process_all(): queue the items, run `workers` workers, wait, stop the workers"
    )


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
    raise NotImplementedError(
        "write produce_and_consume(): a bounded queue, `workers` workers, put every item, stop"
    )
