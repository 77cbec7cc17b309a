"""Sends every message at once with asyncio.gather instead of waiting for each one in turn.

caught by: test_each_message_is_sent_only_after_the_previous_one_is_done
says: tasks started by asyncio.gather
"""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    await asyncio.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    return await asyncio.gather(*(delayed_message(delay, message) for delay, message in items))
