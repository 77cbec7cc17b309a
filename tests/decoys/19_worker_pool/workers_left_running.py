"""Waits for queue.join() and returns, but never stops the workers: they wait in get() forever.

caught by: test_every_item_is_handled_exactly_once
says: Nothing stopped them
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
    for _ in range(workers):
        asyncio.create_task(worker(queue, handle, results))
    await queue.join()
    return results


async def produce_and_consume(
    source: AsyncIterable[str], handle: Handle, workers: int, maxsize: int
) -> list[str]:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        async for item in source:
            await queue.put(item)
        await queue.join()
        for task in tasks:
            task.cancel()
    return results
