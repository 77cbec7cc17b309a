"""Creates the coffee task, then awaits it straight away, so the toast waits for the coffee.

caught by: test_the_toast_is_made_while_the_coffee_brews
says: right after creating it
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    coffee = await asyncio.create_task(brew_coffee())
    toast = await make_toast()
    return [toast, coffee]
