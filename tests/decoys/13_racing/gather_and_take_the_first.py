"""Gathers every mirror and returns the first result of the list: it waits for the slowest.

caught by: test_the_fastest_mirrors_answer_wins
says: waited for all of them
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A request to one server: call it to get a coroutine that returns the server's answer.
Request = Callable[[], Coroutine[Any, Any, str]]


async def first_answer(mirrors: list[Request]) -> str:
    answers = await asyncio.gather(*(mirror() for mirror in mirrors))
    return answers[0]


async def hedged(primary: Request, backup: Request, hedge_after: float) -> str:
    tasks = {asyncio.create_task(primary())}
    try:
        done, _ = await asyncio.wait(tasks, timeout=hedge_after)
        if not done:
            tasks.add(asyncio.create_task(backup()))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done.pop().result()
