"""Tries the mirrors one after another (failover), so the later ones never get a chance.

caught by: test_the_fastest_mirrors_answer_wins
says: asked only mirror eu
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A request to one server: call it to get a coroutine that returns the server's answer.
Request = Callable[[], Coroutine[Any, Any, str]]


async def first_answer(mirrors: list[Request]) -> str:
    error: Exception = LookupError("no mirror")
    for mirror in mirrors:
        try:
            return await mirror()
        except Exception as failed:
            error = failed
    raise error


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
