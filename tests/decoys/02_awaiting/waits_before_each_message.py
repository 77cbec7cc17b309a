"""Sleeps each message's delay before sending it, as if to wait for its turn: every message waits
twice, so two messages of 0.2 and 0.1 s take 0.6 s.

caught by: test_messages_in_turn_take_the_sum_of_their_delays
says: a sleep of its own
"""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    await asyncio.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    sent = []
    for delay, message in items:
        await asyncio.sleep(delay)  # wait for this message's turn
        sent.append(await delayed_message(delay, message))
    return sent
