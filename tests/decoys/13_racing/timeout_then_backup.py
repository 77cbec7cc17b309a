"""Gives the primary a timeout and then asks only the backup: a late primary is thrown away.

caught by: test_a_late_primary_keeps_running_and_beats_a_slower_backup
says: cancelled the primary
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A request to one server: call it to get a coroutine that returns the server's answer.
Request = Callable[[], Coroutine[Any, Any, str]]


async def first_answer(mirrors: list[Request]) -> str:
    tasks = [asyncio.create_task(mirror()) for mirror in mirrors]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done.pop().result()


async def hedged(primary: Request, backup: Request, hedge_after: float) -> str:
    try:
        async with asyncio.timeout(hedge_after):
            return await primary()
    except TimeoutError:
        return await backup()
