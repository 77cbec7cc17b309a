"""Gives the new coffee task a head start with time.sleep, which freezes the whole event loop.

caught by: test_breakfast_is_the_toast_and_the_coffee
says: time.sleep()
"""

import asyncio
import time


async def make_breakfast(brew_coffee, make_toast):
    coffee = asyncio.create_task(brew_coffee())
    time.sleep(0.25)  # let the coffee get going
    toast = await make_toast()
    return [toast, await coffee]
