"""Reads the delay as milliseconds and sleeps delay / 1000, so it returns far too early.

caught by: test_delayed_message_waits_its_delay_then_returns_the_message
says: in seconds, not milliseconds
"""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    await asyncio.sleep(delay / 1000)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    sent = []
    for delay, message in items:
        sent.append(await delayed_message(delay, message))
    return sent
