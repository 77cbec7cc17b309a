"""Closes the loop after run_until_complete returns, so an error skips the close.

caught by: test_legacy_main_closes_its_loop_even_when_the_greeting_fails
says: closed only on the success path
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
    greetings = loop.run_until_complete(greet_everyone(names))
    loop.close()
    return greetings
