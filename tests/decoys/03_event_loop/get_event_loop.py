"""Takes the loop from asyncio.get_event_loop() instead of creating a new one.

caught by: test_legacy_main_returns_a_greeting_for_every_name
says: called asyncio.get_event_loop()
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
    loop = asyncio.get_event_loop()
    try:
        return loop.run_until_complete(greet_everyone(names))
    finally:
        loop.close()
