"""Takes the winner from asyncio.as_completed: with no mirrors the loop never runs, so None.

caught by: test_a_race_of_no_mirrors_raises_value_error_at_once
says: reached its end with no answer to return
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A request to one server: call it to get a coroutine that returns the server's answer.
Request = Callable[[], Coroutine[Any, Any, str]]


async def first_answer(mirrors: list[Request]) -> str:
    """Ask every mirror at once and return the first answer; stop the others before returning.

    The mirrors that lose the race are cancelled AND awaited, so none of them is still running
    when first_answer returns. If the first mirror to finish fails, its error is raised (a
    failure counts as the first answer), after the others have been stopped all the same.
    With mirrors that take 0.3, 0.1 and 0.2 s, the answer comes in about 0.1 s:

    >>> asyncio.run(first_answer([eu, us, asia]))
    'us: 42'
    """
    tasks = [asyncio.create_task(mirror()) for mirror in mirrors]
    try:
        # as_completed hands the tasks back as they finish: the first one is the winner.
        for first in asyncio.as_completed(tasks):
            return await first
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def hedged(primary: Request, backup: Request, hedge_after: float) -> str:
    """Ask the primary; if it has not answered after `hedge_after` seconds, ask the backup too.

    Return whichever answers first and cancel (and await) the other. A primary that answers
    within hedge_after is returned at once, and the backup is never called. A late primary is
    not given up: it keeps running beside the backup and wins if it still answers first.
    As in first_answer, an error from the first one to finish is raised.

    >>> asyncio.run(hedged(primary, backup, hedge_after=0.1))   # primary slow, backup 0.1 s
    'backup: 42'
    """
    tasks = {asyncio.create_task(primary())}
    try:
        # The primary alone first: wait() returns when it finishes, or after hedge_after.
        done, _ = await asyncio.wait(tasks, timeout=hedge_after)
        if not done:
            # It is late: fire the backup and race the two (the primary keeps running).
            tasks.add(asyncio.create_task(backup()))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Stop whichever did not win, and wait until it has stopped.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done.pop().result()
