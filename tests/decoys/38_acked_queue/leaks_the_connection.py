"""Connects without `async with` or `close()`, so the connection stays open after consume() stops.

caught by: test_every_message_is_processed_and_then_acked
says: still open
"""

import asyncio
from collections.abc import Awaitable, Callable

import nats

Process = Callable[[bytes], Awaitable[None]]


async def consume(url: str, stream: str, durable: str, process: Process, workers: int) -> None:
    nc = await nats.connect(url)
    subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)

    async def worker() -> None:
        while True:
            try:
                [msg] = await subscription.fetch(1, timeout=1)
            except TimeoutError:
                continue
            try:
                await process(msg.data)
            except Exception:
                await msg.nak()
            else:
                await msg.ack_sync()

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
