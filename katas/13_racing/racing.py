"""Kata 13: racing - the first answer wins, the losers are stopped."""

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
    raise NotImplementedError(
        "write first_answer(): start every mirror, wait for the FIRST to finish, stop the rest"
    )


async def hedged(primary: Request, backup: Request, hedge_after: float) -> str:
    """Ask the primary; if it has not answered after `hedge_after` seconds, ask the backup too.

    Return whichever answers first and cancel (and await) the other. A primary that answers
    within hedge_after is returned at once, and the backup is never called. A late primary is
    not given up: it keeps running beside the backup and wins if it still answers first.
    As in first_answer, an error from the first one to finish is raised.

    >>> asyncio.run(hedged(primary, backup, hedge_after=0.1))   # primary slow, backup 0.1 s
    'backup: 42'
    """
    raise NotImplementedError(
        "write hedged(): wait for the primary at most hedge_after, then race it against the backup"
    )
