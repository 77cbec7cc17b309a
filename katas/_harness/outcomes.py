"""Small shared helpers: wait for what a test started, and say what became of it.

Each was written by hand in two or more kata tests before; one definition each, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sized
from typing import Any, NoReturn, TypeVar

import pytest

from _harness.timeline import scaled

T = TypeVar("T")


def outcome(future: asyncio.Future[Any]) -> str:
    """What became of a task or future, as a message says it."""
    if not future.done():
        return "was still pending"
    if future.cancelled():
        return "ended cancelled (CancelledError)"
    error = future.exception()
    return f"raised {error!r}" if error is not None else f"returned {future.result()!r}"


def outcomes(named: Mapping[str, asyncio.Future[Any]]) -> str:
    """What became of each, a line each: "  <name> <outcome>"."""
    return "\n".join(f"  {name} {outcome(future)}" for name, future in named.items())


def raised(future: asyncio.Future[Any], kind: type[BaseException]) -> bool:
    """The task or future ended by raising an exception of this kind."""
    return future.done() and not future.cancelled() and isinstance(future.exception(), kind)


async def settle(futures: Iterable[asyncio.Future[Any]], within: float) -> None:
    """Wait until every one is done, `within` seconds (scaled) at most; the rest stay pending."""
    pending = set(futures)
    if pending:
        await asyncio.wait(pending, timeout=scaled(within))


async def patiently(awaitable: Awaitable[T], within: float) -> T | None:
    """What the awaitable gives within `within` seconds (scaled), or None (it is cancelled)."""
    try:
        async with asyncio.timeout(scaled(within)):
            return await awaitable
    except TimeoutError:
        return None


async def loop_turns(count: int) -> None:
    """Let every task that can move take its steps: `count` turns of the loop, no clock."""
    for _ in range(count):
        await asyncio.sleep(0)


def listed(names: Iterable[str]) -> str:
    """Names in a sentence: "a", "a and b", "a, b and c"."""
    *most, last = [*names] or [""]
    return f"{', '.join(most)} and {last}" if most else last


def were(items: Sized) -> str:
    """The verb for a count: "was" for one item, "were" for more (or none)."""
    return "was" if len(items) == 1 else "were"


def still_running(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """The tasks started since `before` (asyncio.all_tasks() then) that have not ended."""
    return [task for task in asyncio.all_tasks() - before if not task.done()]


def fail(message: str) -> NoReturn:
    """Fail the test with a learner's message only (no traceback of the test itself)."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)
