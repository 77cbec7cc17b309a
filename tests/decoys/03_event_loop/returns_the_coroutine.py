"""Returns greet_everyone(names) from main without running it: a coroutine, not greetings.

caught by: test_main_returns_a_greeting_for_every_name
says: returned a coroutine object
"""

import asyncio


async def greet_everyone(names: list[str]) -> list[str]:
    greetings = []
    for name in names:
        await asyncio.sleep(0)
        greetings.append(f"Hello, {name}!")
    return greetings


def main(names: list[str]) -> list[str]:
    return greet_everyone(names)


def legacy_main(names: list[str]) -> list[str]:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greet_everyone(names))
    finally:
        loop.close()
