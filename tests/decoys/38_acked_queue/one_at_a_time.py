"""Ignores `workers`: one loop fetches, processes and acks each message in turn.

caught by: test_k_messages_are_processed_at_once_not_one_at_a_time
says: one at a time
"""

from collections.abc import Awaitable, Callable

import nats

Process = Callable[[bytes], Awaitable[None]]


async def consume(url: str, stream: str, durable: str, process: Process, workers: int) -> None:
    async with await nats.connect(url) as nc:
        subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)
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
