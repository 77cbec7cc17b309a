"""Acks each message as soon as it is fetched, before process() runs: a kill loses those in process.

caught by: test_a_consumer_killed_mid_message_loses_none_and_repeats_none
says: before process() has finished
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
                await msg.ack_sync()  # got it: the server can forget it
                try:
                    await process(msg.data)
                except Exception:
                    pass

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
