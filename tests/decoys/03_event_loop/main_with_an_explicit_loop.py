"""Writes main with the legacy explicit-loop API instead of asyncio.run.

caught by: test_main_runs_the_greetings_with_asyncio_run
says: never called asyncio.run()
"""

import asyncio


async def greet_everyone(names: list[str]) -> list[str]:
    greetings = []
    for name in names:
        await asyncio.sleep(0)
        greetings.append(f"Hello, {name}!")
    return greetings


def main(names: list[str]) -> list[str]:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greet_everyone(names))
    finally:
        loop.close()


def legacy_main(names: list[str]) -> list[str]:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greet_everyone(names))
    finally:
        loop.close()
