"""Sleeps hedge_after before looking at the primary, even when it answered long before.

caught by: test_a_fast_primary_answers_without_waiting_out_hedge_after
says: always waits the whole hedge_after
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
    tasks = {asyncio.create_task(primary())}
    try:
        await asyncio.sleep(hedge_after)
        done = {task for task in tasks if task.done()}
        if not done:
            tasks.add(asyncio.create_task(backup()))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done.pop().result()
