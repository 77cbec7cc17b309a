"""Acks with `await msg.ack()`, which returns before the server has the ack: a crash can lose it.

caught by: test_every_message_is_processed_and_then_acked
says: without waiting for the server to confirm them
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
                except Exception:
                    await msg.nak()
                else:
                    await msg.ack()  # acked: the client sends it

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
