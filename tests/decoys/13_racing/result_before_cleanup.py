"""Reads the winner's result before stopping the others, so a failing winner leaves them running.

caught by: test_an_error_of_the_first_finisher_is_raised_after_stopping_the_others
says: no clean-up on the error path
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A request to one server: call it to get a coroutine that returns the server's answer.
Request = Callable[[], Coroutine[Any, Any, str]]


async def first_answer(mirrors: list[Request]) -> str:
    tasks = [asyncio.create_task(mirror()) for mirror in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    answer = done.pop().result()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return answer


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
