"""Sets its loop as the current one and unsets it after the try, so an error leaves it set.

caught by: test_legacy_main_leaves_no_current_event_loop_behind
says: raised greet_everyone's ConnectionError with that loop
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
    asyncio.set_event_loop(loop)
    try:
        greetings = loop.run_until_complete(greet_everyone(names))
    finally:
        loop.close()
    asyncio.set_event_loop(None)
    return greetings
