"""Fetches `workers` messages at a time and starts a task for each without waiting: no bound.

caught by: test_never_more_than_k_messages_are_processed_at_once
says: nothing limited them
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

        async with asyncio.TaskGroup() as tg:
            while True:
                try:
                    msgs = await subscription.fetch(workers, timeout=1)
                except TimeoutError:
                    continue
                for msg in msgs:
                    tg.create_task(handle(msg))
