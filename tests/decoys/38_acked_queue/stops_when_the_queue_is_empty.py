"""Ends a worker when its fetch() times out, taking an empty queue for the end of the work.

caught by: test_a_quiet_spell_does_not_stop_the_consumer
says: took an empty queue for the end
"""

import asyncio
from collections.abc import Awaitable, Callable

import nats

# The work to do for one message: called with the message's payload; raises if it failed.
Process = Callable[[bytes], Awaitable[None]]


async def consume(url: str, stream: str, durable: str, process: Process, workers: int) -> None:
    """Process the messages of a JetStream durable pull consumer with `workers` workers.

    Connect to the NATS server at `url` and pull from the consumer `durable` of `stream`. Each
    worker takes one message at a time, awaits `process(msg.data)` and acks the message only
    once `process` has returned; a message whose `process` raised is nak-ed (JetStream
    delivers it again) and the worker carries on. Runs until cancelled; then it stops at once,
    leaving no worker running and the connection closed.

    >>> task = asyncio.create_task(consume(url, "JOBS", "workers", process, workers=3))
    >>> task.cancel()  # later: the messages not acked by then are delivered again
    """
    # The connection closes when the block ends, also when the consumer is cancelled.
    async with await nats.connect(url) as nc:
        subscription = await nc.jetstream().pull_subscribe_bind(durable, stream=stream)

        async def worker() -> None:
            while True:
                try:
                    [msg] = await subscription.fetch(1, timeout=1)
                except TimeoutError:
                    return  # the queue is empty: this worker is done
                try:
                    await process(msg.data)
                except Exception:
                    # It failed: nak it, so JetStream delivers it again (at once).
                    await msg.nak()
                else:
                    # Done: only now tell the server, and wait until it has the ack.
                    await msg.ack_sync()

        # K workers, each with one message at a time: never more than K in process at once.
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
