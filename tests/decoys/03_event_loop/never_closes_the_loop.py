"""Creates a new loop and runs the coroutine on it, but never closes the loop.

caught by: test_legacy_main_closes_its_loop_before_returning
says: returned, but the event loop it created is still open
"""

import asyncio


async def greet_everyone(names: list[str]) -> list[str]:
    greetings = []
    for name in names:
        await asyncio.sleep(0)
        greetings.append(f"Hello, {name}!")
    return greetings


def main(names: list[str]) -> list[str]:
    return asyncio.run(greet_everyone(names))


def legacy_main(names: list[str]) -> list[str]:
    loop = asyncio.new_event_loop()
    return loop.run_until_complete(greet_everyone(names))
