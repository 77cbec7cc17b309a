"""Catches an exception of process() and moves on without a nak: the message waits out its ack_wait.

caught by: test_a_failed_message_is_nakked_and_processed_again
says: neither an ack nor a nak
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
                    [msg] = await subscription.fetch(1, timeout=1)
                except TimeoutError:
                    continue
                try:
                    await process(msg.data)
                except Exception as error:
                    print(f"failed: {error}")  # it will come back by itself, some day
                else:
                    await msg.ack_sync()

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
