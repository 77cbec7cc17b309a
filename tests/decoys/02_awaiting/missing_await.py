"""Calls asyncio.sleep(delay) without await, so nothing waits and the message comes back at once.

caught by: test_delayed_message_waits_its_delay_then_returns_the_message
says: never awaited
"""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    asyncio.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    sent = []
    for delay, message in items:
        sent.append(await delayed_message(delay, message))
    return sent
