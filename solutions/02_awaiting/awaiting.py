"""Kata 02: awaiting - `await asyncio.sleep` waits without blocking the loop."""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    """Wait `delay` seconds without blocking the event loop, then return `message`.

    >>> asyncio.run(delayed_message(0.1, "Hi!"))  # after about 0.1 s
    'Hi!'
    """
    # await hands control back to the event loop; other tasks run until the delay is over.
    await asyncio.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    """Send every (delay, message) with delayed_message, each only once the previous is done.

    The messages go out one after another, so the total time is the sum of the delays.
    Return the messages in the order of `items`.

    >>> asyncio.run(messages_in_turn([(0.2, "Hi!"), (0.1, "How are you?")]))  # about 0.3 s
    ['Hi!', 'How are you?']
    """
    sent: list[str] = []
    for delay, message in items:
        # await waits until this message is done, so the next one starts only after it.
        sent.append(await delayed_message(delay, message))
    return sent
