"""Creates a task per message, then awaits them in order: the tasks already run side by side.

caught by: test_each_message_is_sent_only_after_the_previous_one_is_done
says: made with asyncio.create_task
"""

import asyncio


async def delayed_message(delay: float, message: str) -> str:
    await asyncio.sleep(delay)
    return message


async def messages_in_turn(items: list[tuple[float, str]]) -> list[str]:
    tasks = [asyncio.create_task(delayed_message(delay, message)) for delay, message in items]
    sent = []
    for task in tasks:
        sent.append(await task)
    return sent
