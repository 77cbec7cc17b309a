"""Kata 03: event loop - start asyncio from ordinary synchronous code."""

import asyncio


async def greet_everyone(names: list[str]) -> list[str]:
    """Given (already written): greet every name in turn, giving the loop a turn in between.

    >>> asyncio.run(greet_everyone(["Ada"]))
    ['Hello, Ada!']
    """
    greetings = []
    for name in names:
        await asyncio.sleep(0)  # where a real service call would wait
        greetings.append(f"Hello, {name}!")
    return greetings


def main(names: list[str]) -> list[str]:
    """Run greet_everyone(names) to the end with asyncio.run; return the greetings.

    A plain function, not `async def`: this is where synchronous code enters asyncio.

    >>> main(["Ada", "Grace"])
    ['Hello, Ada!', 'Hello, Grace!']
    """
    # asyncio.run makes a fresh loop, runs the coroutine to the end, then closes the loop.
    return asyncio.run(greet_everyone(names))


def legacy_main(names: list[str]) -> list[str]:
    """Run greet_everyone(names) on a new event loop of its own, the way code did before 3.7.

    Create the loop with asyncio.new_event_loop(), run the coroutine with
    loop.run_until_complete(), and close the loop in every case, also when the coroutine raises.

    >>> legacy_main(["Ada", "Grace"])
    ['Hello, Ada!', 'Hello, Grace!']
    """
    # A loop of our own: never borrow, or silently create, a "current" loop.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greet_everyone(names))
    finally:
        # Closed on success and on error alike, or the loop and its selector leak.
        loop.close()
