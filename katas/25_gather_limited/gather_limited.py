"""Kata 25: bounded gather - asyncio.gather with at most `limit` coroutines running at once."""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, TypeVar, overload

T = TypeVar("T")


@overload
async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, T]],
    limit: int,
    *,
    return_exceptions: Literal[False] = False,
) -> list[T]: ...


@overload
async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, T]], limit: int, *, return_exceptions: bool
) -> list[T | Exception]: ...


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    """Run the coroutines with at most `limit` of them at once; return their results in order.

    The next coroutine starts as soon as a running one ends (a sliding window, not batches),
    and it becomes a task only then: whatever the number of coroutines, at most `limit` tasks
    exist at any moment. The results follow the order of `coros`.

    If one fails, its exception is raised (itself, not an ExceptionGroup): the running ones are
    cancelled and waited for, the ones not started yet are closed without ever running.
    A limit below 1 raises ValueError (and closes every coroutine). No coroutines: [].

    Stage 2: with return_exceptions=True nothing is cancelled: a failed coroutine's exception
    takes the place of its result in the list, as with asyncio.gather.

    >>> asyncio.run(gather_limited([fetch("a"), fetch("b"), fetch("c")], limit=2))
    ['page a', 'page b', 'page c']
    """
    raise NotImplementedError(
        "write gather_limited(): at most `limit` tasks at once, results in order, fail fast"
    )
