"""Kata 02: awaiting - `await asyncio.sleep` waits without blocking the loop."""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    """Wait `delay` seconds without blocking the event loop, then return `message`.

    >>> asyncio.run(delayed_message(0.1, "Hi!"))  # after about 0.1 s
    'Hi!'
    """
    raise NotImplementedError("write delayed_message(): wait `delay` seconds, then return message")


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    """Send every (delay, message) with delayed_message, each only once the previous is done.

    The messages go out one after another, so the total time is the sum of the delays.
    Return the messages in the order of `items`.

    >>> asyncio.run(messages_in_turn([(0.2, "Hi!"), (0.1, "How are you?")]))  # about 0.3 s
    ['Hi!', 'How are you?']
    """
    raise NotImplementedError("write messages_in_turn(): await delayed_message for each, in turn")
