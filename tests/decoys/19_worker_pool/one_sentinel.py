"""Puts one None sentinel after the items for all the workers: only one worker ever stops.

caught by: test_every_item_is_handled_exactly_once
says: 1 sentinel(s) (None) were put for 3 workers
"""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable

Handle = Callable[[str], Awaitable[str]]


async def worker(queue: asyncio.Queue[str | None], handle: Handle, results: list[str]) -> None:
    while (item := await queue.get()) is not None:
        results.append(await handle(item))


async def process_all(items: list[str], handle: Handle, workers: int) -> list[str]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    queue.put_nowait(None)  # the end of the items
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker(queue, handle, results))
    return results


async def produce_and_consume(
    source: AsyncIterable[str], handle: Handle, workers: int, maxsize: int
) -> list[str]:
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker(queue, handle, results))
        async for item in source:
            await queue.put(item)
        await queue.put(None)
    return results
