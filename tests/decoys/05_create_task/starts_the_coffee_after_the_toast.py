"""Makes the toast first and only then creates the coffee task, so nothing brews meanwhile.

caught by: test_the_toast_is_made_while_the_coffee_brews
says: only after the toast was done
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    toast = await make_toast()
    coffee = asyncio.create_task(brew_coffee())
    return [toast, await coffee]
