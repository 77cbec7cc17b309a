"""Catches everything around process() with `except BaseException`, CancelledError too, and goes on.

caught by: test_a_consumer_killed_mid_message_loses_none_and_repeats_none
says: ignored the cancellation
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
                except BaseException:  # whatever happens, the worker must survive
                    await msg.nak()
                else:
                    await msg.ack_sync()

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
