"""Puts the coffee task itself in the result instead of awaiting it for the coffee.

caught by: test_breakfast_is_the_toast_and_the_coffee
says: the coffee task itself
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    coffee = asyncio.create_task(brew_coffee())
    toast = await make_toast()
    return [toast, coffee]
