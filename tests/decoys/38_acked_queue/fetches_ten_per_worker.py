"""Has each worker fetch ten messages and work through them: they wait behind its slow one.

caught by: test_one_slow_message_does_not_hold_up_the_other_workers
says: messages per pull request
"""

import asyncio
from collections.abc import Awaitable, Callable

import nats

Process = Callable[[bytes], Awaitable[None]]


async def consume(url: str, stream: str, durable: str, process: Process, workers: int) -> None:
    async with await nats.connect(url) as nc:
        subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)

        async def worker() -> None:
            while True:
                try:
                    msgs = await subscription.fetch(10, timeout=1)  # fewer round trips
                except TimeoutError:
                    continue
                for msg in msgs:
                    try:
                        await process(msg.data)
                    except Exception:
                        await msg.nak()
                    else:
                        await msg.ack_sync()

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
