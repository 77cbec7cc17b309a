"""Kata 38: acked queue - K workers consume a JetStream stream, acking once the work is done."""

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
    raise NotImplementedError(
        "write consume(): `workers` tasks, each a loop: fetch one message, process it, ack it"
    )
