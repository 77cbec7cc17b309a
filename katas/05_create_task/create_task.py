"""Kata 05: create_task - start work in the background, do something else, then collect it."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A chore: call it to get a coroutine that does the work and returns what it made.
Chore = Callable[[], Coroutine[Any, Any, str]]


async def make_breakfast(brew_coffee: Chore, make_toast: Chore) -> list[str]:
    """Brew the coffee in the background while you make the toast; return [toast, coffee].

    Start brew_coffee() as a task first, make the toast meanwhile, then await the coffee task.
    With a 0.3 s coffee and a 0.2 s toast, breakfast is ready in about 0.3 s, not 0.5 s:

    >>> asyncio.run(make_breakfast(brew_coffee, make_toast))
    ['toast', 'coffee']
    """
    raise NotImplementedError(
        "write make_breakfast(): start the coffee as a task, make the toast, then await the coffee"
    )
