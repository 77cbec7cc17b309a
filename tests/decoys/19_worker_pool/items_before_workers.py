"""Puts every item of the stream into the bounded queue before starting the workers: put() hangs.

caught by: test_the_results_come_back_in_the_order_the_handles_finished
says: no worker task had been started yet
"""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable

Handle = Callable[[str], Awaitable[str]]


async def worker(queue: asyncio.Queue[str], handle: Handle, results: list[str]) -> None:
    while True:
        item = await queue.get()
        try:
            results.append(await handle(item))
        finally:
            queue.task_done()


async def process_all(items: list[str], handle: Handle, workers: int) -> list[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        await queue.join()
        for task in tasks:
            task.cancel()
    return results


async def produce_and_consume(
    source: AsyncIterable[str], handle: Handle, workers: int, maxsize: int
) -> list[str]:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
    async for item in source:
        await queue.put(item)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        await queue.join()
        for task in tasks:
            task.cancel()
    return results
