"""Fetches a batch of `workers` messages and gathers them: each batch waits for its slowest message.

caught by: test_one_slow_message_does_not_hold_up_the_other_workers
says: batches
"""

import asyncio
from collections.abc import Awaitable, Callable

import nats
from nats.aio.msg import Msg

Process = Callable[[bytes], Awaitable[None]]


async def consume(url: str, stream: str, durable: str, process: Process, workers: int) -> None:
    async with await nats.connect(url) as nc:
        subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)

        async def handle(msg: Msg) -> None:
            try:
                await process(msg.data)
            except Exception:
                await msg.nak()
            else:
                await msg.ack_sync()

        while True:
            try:
                msgs = await subscription.fetch(workers, timeout=1)
            except TimeoutError:
                continue
            await asyncio.gather(*(handle(msg) for msg in msgs))
