"""Starts the coffee task but never awaits it, and just writes "coffee" into the result.

caught by: test_breakfast_is_the_toast_and_the_coffee
says: still running when the test ended
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    asyncio.create_task(brew_coffee())
    toast = await make_toast()
    return [toast, "coffee"]
