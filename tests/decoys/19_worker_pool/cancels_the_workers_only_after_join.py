"""Runs bare worker tasks, cancelled only after join(): a failed handle's error is lost with them.

caught by: test_an_error_in_one_handle_stops_every_worker_and_propagates
says: ended with the ServiceDown, and nobody awaited it
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
    tasks = [asyncio.create_task(worker(queue, handle, results)) for _ in range(workers)]
    await queue.join()
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
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
