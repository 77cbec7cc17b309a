"""Waits with time.sleep instead of await asyncio.sleep, which freezes the whole event loop.

caught by: test_delayed_message_waits_its_delay_then_returns_the_message
says: time.sleep()
"""

import time


async def delayed_message(delay: float, message: str) -> str:
    time.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    sent = []
    for delay, message in items:
        sent.append(await delayed_message(delay, message))
    return sent
