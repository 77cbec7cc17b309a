"""Starts a task for the toast as well as for the coffee, then only waits for the two.

caught by: test_the_toast_is_made_by_make_breakfast_itself
says: started a task for the toast too
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    toast = asyncio.create_task(make_toast())
    coffee = asyncio.create_task(brew_coffee())
    return [await toast, await coffee]
