"""Hands both chores to asyncio.gather, so the toast gets a task of its own and nobody makes it.

caught by: test_the_toast_is_made_by_make_breakfast_itself
says: handed both chores to asyncio.gather
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    coffee, toast = await asyncio.gather(brew_coffee(), make_toast())
    return [toast, coffee]
